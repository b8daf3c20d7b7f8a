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

from harness import integrity, leftovers, procs
from harness.backends.rust.build import (
    PROGRAM_FLAGS,
    RustBuild,
    _env,
    _first_error,
    compile_errors,
    rustc,
)

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


def merged(tests: list[Doctest]) -> tuple[str, list[int]]:
    """Every example in one program, each a module whose ``main`` argv[1] picks; and the
    line each example's code starts on."""
    parts = [HEADER]
    starts = []
    line = HEADER.count("\n") + 1
    for i, d in enumerate(tests):
        src, offset = program(d)
        body = src.removeprefix(HEADER).replace("fn main(", "pub fn main(", 1)
        # the module line replaces the header line, so the code keeps its offset
        starts.append(line + offset - 1)
        parts.append(f"mod example_{i} {{\n{body}}}\n")
        line += 1 + body.count("\n") + 1
    arms = "".join(f'        "{i}" => example_{i}::main(),\n' for i in range(len(tests)))
    parts.append("fn main() {\n    match std::env::args().nth(1).as_deref().unwrap_or(\"\") {\n"
                 f"{arms}        _ => std::process::exit(2),\n    }}\n}}\n")
    return "".join(parts), starts


def run_all(build: RustBuild, tests: list[Doctest], *, timeout: float = 30.0,
            jobs: int = 2) -> list[DoctestResult]:
    """Compile and run every example (``jobs`` at once); results in the examples' order.

    All examples are first built as one program (one compile, as rustdoc merges doctests);
    if that fails, each is built on its own so every compile error names its example.
    """
    rc = rustc()
    if tests:
        src, starts = merged(tests)
        exe = _compile(build, rc, src, "merged")
        if isinstance(exe, Path):
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                return list(pool.map(lambda i: _execute(tests[i], [str(exe), str(i)], timeout,
                                                        starts[i]), range(len(tests))))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda d: _one(build, rc, d, timeout), tests))


def _compile(build: RustBuild, rc: str, src: str, name: str) -> Path | str:
    """The executable of ``src`` (cached by its text), or every error the compiler gave,
    as it printed them (one after another, each at its location)."""
    key = hashlib.sha256(src.encode()).hexdigest()[:16]
    out_dir = build.dir / "doctests"
    out_dir.mkdir(exist_ok=True)
    exe = out_dir / f"{name}-{key}"
    if exe.is_file() and integrity.file_problem(exe) is None:
        return exe  # else damaged (or never sealed): built again
    # Another process may build the same program at once: rustc's intermediate files are
    # named by crate, so each build gets a directory of its own, then a rename.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=leftovers.prefix("build")) as tmp:
        source = Path(tmp) / "doctest.rs"
        source.write_text(src)
        p = subprocess.run([rc, *PROGRAM_FLAGS, "--crate-type", "bin", "--crate-name",
                            "doctest", *build.link_args(), "-o", f"{tmp}/doctest",
                            str(source)], capture_output=True, text=True, env=_env())
        if p.returncode != 0:
            errors = compile_errors(p.stderr) or [_first_error(p.stderr)]
            return "; ".join(errors).replace(str(source), "doctest.rs")
        os.replace(f"{tmp}/doctest", exe)
        integrity.seal_file(exe)
    return exe


def _one(build: RustBuild, rc: str, d: Doctest, timeout: float) -> DoctestResult:
    src, offset = program(d)
    got = _compile(build, rc, src, d.id)
    if isinstance(got, str):
        err = re.sub(r"doctest\.rs:(\d+):(\d+)",
                     lambda m: f"{d.file}:{int(m[1]) - offset + d.code_line}:{m[2]}", got)
        return DoctestResult(d, "fail", f"compile error: {err}")
    return _execute(d, [str(got)], timeout, offset)


def _execute(d: Doctest, argv: list[str], timeout: float, offset: int) -> DoctestResult:
    """Run one example's program; a panic's location is mapped back to the tree's file."""
    try:
        p = procs.run(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        return DoctestResult(d, "crash", f"timeout: no end after {timeout:g} s")
    if p.returncode == 0:
        return DoctestResult(d, "pass")
    lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()]
    at = next((i for i, ln in enumerate(lines) if " panicked at " in ln), None)
    if at is not None:
        where = re.sub(r"\S*/doctest\.rs:(\d+)",
                       lambda m: f"{d.file}:{int(m[1]) - offset + d.code_line}", lines[at])
        where = re.sub(r"^.*?thread '[^']*'(?: \(\d+\))? panicked at", "panicked at", where)
        return DoctestResult(d, "fail", " ".join([where, *lines[at + 1:at + 4]]))
    if p.returncode < 0:
        return DoctestResult(d, "crash", f"killed by signal {-p.returncode}: "
                                         f"{' '.join(lines[-2:])}")
    return DoctestResult(d, "fail", " ".join(lines[-3:]) or f"exit status {p.returncode}")
