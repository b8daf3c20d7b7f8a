"""The examples in ``buddy.rs``'s doc comments, compiled and run as doctests, verbatim.

Extraction follows rustdoc's rules: a fenced block in a ``//!`` or ``///``
comment is Rust unless its fence says otherwise; a line starting with ``#``
and a space (or a lone ``#``) is compiled but hidden from readers. Each example
becomes a program as rustdoc makes one: wrapped in a function that returns
``Result`` when it ends in ``Ok(..)``, built against the same stand-in crate
and C as the worker, and run. Ids are stable across versions: ``doctest.module-N``
for the module's examples, ``doctest.ITEM-N`` for an item's.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.backends.rust.build import RUSTFLAGS, RustBuild, _env, _first_error, rustc

SKIP_ATTRS = {"ignore", "text", "no_run", "compile_fail"}
_ITEM = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?"
                   r"(?:fn|struct|enum|trait|type|const|static|mod|impl)\s+(?:<[^>]*>\s*)?(\w+)")


@dataclass(frozen=True)
class Doctest:
    id: str
    file: str  # relative to the tree
    line: int  # the fence's line
    code: str
    code_line: int  # the tree line of the code's first line


@dataclass(frozen=True)
class DoctestResult:
    doctest: Doctest
    status: str  # pass, fail, crash
    message: str = ""


def extract(path: Path, rel: str) -> list[Doctest]:
    lines = path.read_text(errors="replace").splitlines()
    found: list[tuple[str, int, list[str], int]] = []  # (kind, fence line, code, first)
    fence: tuple[str, int, bool] | None = None  # (kind, line, runs)
    code: list[str] = []
    for n, raw in enumerate(lines, 1):
        m = re.match(r"\s*(//!|///)\s?(.*)$", raw)
        if not m:
            fence, code = None, []
            continue
        kind, text = m[1], m[2]
        if text.strip().startswith("```"):
            if fence is None:
                attrs = {a.strip() for a in text.strip()[3:].split(",") if a.strip()}
                runs = not attrs & SKIP_ATTRS and (not attrs or bool(attrs & {"rust"})
                                                   or attrs <= {"should_panic", "edition2021"})
                fence, code = (kind, n, runs), []
            else:
                if fence[2]:
                    found.append((fence[0], fence[1], code, fence[1] + 1))
                fence, code = None, []
            continue
        if fence is not None:
            stripped = text.lstrip()
            code.append(stripped[2:] if stripped.startswith("# ") else
                        "" if stripped == "#" else text)
    out: list[Doctest] = []
    counts: dict[str, int] = {}
    for kind, line, body, first in found:
        owner = "module" if kind == "//!" else _item_after(lines, line)
        counts[owner] = counts.get(owner, 0) + 1
        out.append(Doctest(f"doctest.{owner}-{counts[owner]}", rel, line, "\n".join(body),
                           first))
    return out


def _item_after(lines: list[str], line: int) -> str:
    for text in lines[line:]:
        if text.lstrip().startswith(("///", "#[", "//")):
            continue
        m = _ITEM.match(text)
        return re.sub(r"[^a-z0-9]+", "-", (m[1] if m else "item").lower()).strip("-")
    return "item"


HEADER = "#![allow(unused, unused_imports, dead_code)]\n"


def program(d: Doctest) -> tuple[str, int]:
    """(source, line offset): the example as a program, and where its first line lands."""
    body = d.code.rstrip()
    if re.search(r"^\s*fn\s+main\s*\(", body, re.M):
        return HEADER + body + "\n", 2
    last = next((ln.strip() for ln in reversed(body.splitlines()) if ln.strip()), "")
    if last.startswith("Ok") and not last.endswith(";"):
        src = (HEADER + "fn __doctest() -> ::core::result::Result<(), impl ::core::fmt::Debug> "
               "{\n" + body + "\n}\nfn main() {\n    if let Err(e) = __doctest() {\n"
               '        eprintln!("the example returned Err({e:?})");\n'
               "        std::process::exit(1);\n    }\n}\n")
    else:
        src = HEADER + "fn main() {\n" + body + "\n}\n"
    return src, 3


def run_all(build: RustBuild, tests: list[Doctest], *, timeout: float = 30.0,
            jobs: int = 2) -> list[DoctestResult]:
    """Compile and run every example (``jobs`` at once); results in the examples' order."""
    rc = rustc()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda d: _one(build, rc, d, timeout), tests))


def _one(build: RustBuild, rc: str, d: Doctest, timeout: float) -> DoctestResult:
    src, offset = program(d)
    key = hashlib.sha256(src.encode()).hexdigest()[:16]
    out_dir = build.dir / "doctests"
    out_dir.mkdir(exist_ok=True)
    exe = out_dir / f"{d.id}-{key}"
    if not exe.is_file():
        # Another process may build the same example at once: rustc's intermediate files
        # are named by crate, so each build gets a directory of its own, then a rename.
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
            source = Path(tmp) / "doctest.rs"
            source.write_text(src)
            p = subprocess.run([rc, *RUSTFLAGS, "--crate-type", "bin", "--crate-name",
                                "doctest", *build.link_args(), "-o", f"{tmp}/doctest",
                                str(source)], capture_output=True, text=True, env=_env())
            if p.returncode != 0:
                err = _first_error(p.stderr)
                err = re.sub(rf"{re.escape(str(source))}:(\d+):(\d+)",
                             lambda m: f"{d.file}:{int(m[1]) - offset + d.code_line}:{m[2]}",
                             err)
                return DoctestResult(d, "fail", f"compile error: {err}")
            os.replace(f"{tmp}/doctest", exe)
    try:
        p = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return DoctestResult(d, "crash", f"timeout: no end after {timeout:g} s")
    if p.returncode == 0:
        return DoctestResult(d, "pass")
    lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()]
    at = next((i for i, ln in enumerate(lines) if " panicked at " in ln), None)
    if at is not None:
        where = re.sub(r"\S*/doctest[^\s:/]*\.rs:(\d+)",
                       lambda m: f"{d.file}:{int(m[1]) - offset + d.code_line}", lines[at])
        where = re.sub(r"^.*?thread '[^']*'(?: \(\d+\))? panicked at", "panicked at", where)
        return DoctestResult(d, "fail", " ".join([where, *lines[at + 1:at + 4]]))
    if p.returncode < 0:
        return DoctestResult(d, "crash", f"killed by signal {-p.returncode}: "
                                         f"{' '.join(lines[-2:])}")
    return DoctestResult(d, "fail", " ".join(lines[-3:]) or f"exit status {p.returncode}")
