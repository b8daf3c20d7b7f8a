"""The reviewer's mechanical checks of a tree's ``buddy.rs``, as items of the ``lint`` suite.

- ``lint.clippy``: ``clippy-driver`` over the kernel crate, as ``make CLIPPY=1`` runs it:
  the lint flags of the tree's own Makefiles (:mod:`harness.backends.rust.makeflags`, so
  each kernel version brings its own set) and its ``.clippy.toml`` (``CLIPPY_CONF_DIR``,
  as the Makefile exports it);
- ``lint.rustfmt``: ``rustfmt --check`` of ``buddy.rs`` with the tree's ``.rustfmt.toml``;
- ``lint.rustdoc``: the crate's doc build with the same flags (rustdoc's own lints, broken
  intra-doc links among them, are on by default; the Makefile adds ``rustdoc::`` ones).

clippy and rustdoc go over the same stand-in ``kernel`` crate as the worker (the tree's
modules and the harness's stand-ins, :mod:`harness.backends.rust.build`); what they say
about ``buddy.rs`` is the item's finding, each warning with ``file:line`` and its lint's
name, and anything about the other files is not. A missing tool skips its item with one
line saying what to install. Each result is cached by the content of everything its tool
reads (the tool's version, the flags, the crate's build, the config file), so a warm run
only hashes and reads a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.rust import makeflags
from harness.backends.rust.build import (
    BINDING,
    RUSTFLAGS,
    RustBuild,
    _env,
    _version_of,
    assemble_crate,
    compile_errors,
    kernel_crate_args,
    rustc,
)
from harness.cachedir import prune
from harness.engine.trace import Outcome
from harness.trees.kernels import cache_root
from harness.trees.tree import KernelTree

if TYPE_CHECKING:
    from harness.backends.rust.backend import RustBackend

ITEMS = ("lint.clippy", "lint.rustfmt", "lint.rustdoc")
# (environment variable, default name, what to install): the variables are the kernel
# Makefile's own names for these tools.
TOOLS = {
    "clippy": ("CLIPPY_DRIVER", "clippy-driver",
               "install clippy with the Rust toolchain (rustup component add clippy; on Debian "
               "apt-get install rust-clippy) or set CLIPPY_DRIVER"),
    "rustfmt": ("RUSTFMT", "rustfmt",
                "install rustfmt with the Rust toolchain (rustup component add rustfmt; on "
                "Debian apt-get install rustfmt) or set RUSTFMT"),
    "rustdoc": ("RUSTDOC", "rustdoc",
                "install rustdoc with the Rust toolchain (it comes with rustc) or set RUSTDOC"),
}
TIMEOUT = 600.0


@dataclass(frozen=True)
class LintResult:
    id: str
    status: str  # pass, fail, skip, error
    message: str = ""
    line: int = 0  # the first finding's line in buddy.rs


def collect(tree: KernelTree) -> list[str]:
    """The lint items of a tree: all three where it has the binding."""
    return list(ITEMS) if (tree.root / BINDING).is_file() else []


def tool(kind: str) -> tuple[str | None, str]:
    """(path or None, the one line to say when it is missing)."""
    var, name, hint = TOOLS[kind]
    exe = os.environ.get(var, name)
    return shutil.which(exe), f"{exe} not found: {hint}"


def invoke(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    """Every lint tool run goes through here (tests count them)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def lint_cache() -> Path:
    return cache_root() / "rust" / "lints"


def _cached(item: str, parts: list[str | bytes], compute: Callable[[], LintResult]) -> LintResult:
    """``compute()``, or its earlier result for the same inputs."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    d = lint_cache()
    path = d / f"{item}-{h.hexdigest()[:16]}.json"
    try:
        return LintResult(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    result = compute()
    if result.status in ("pass", "fail"):  # a tool that broke is tried again next time
        d.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(result)))
        os.replace(tmp, path)
        prune(d, f"{item}-*.json")
    return result


def _read(p: Path) -> bytes:
    return p.read_bytes() if p.is_file() else b"-"


# -- clippy and rustdoc: diagnostics of the kernel crate, those in buddy.rs kept -----------

@dataclass(frozen=True)
class Finding:
    line: int
    col: int
    level: str  # warning, error
    lint: str  # clippy::unnecessary_cast, missing_docs, rustdoc::broken_intra_doc_links
    text: str

    def __str__(self) -> str:
        return f"{BINDING}:{self.line}:{self.col}: {self.level}: {self.lint}: {self.text}"


def findings(stderr: str) -> tuple[list[Finding], list[str]]:
    """From ``--error-format=json`` output: the diagnostics whose primary span is in
    buddy.rs, and the errors elsewhere (they stop the tool, so they are the item's too)."""
    mine, errors = [], []
    for raw in stderr.splitlines():
        try:
            d = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(d, dict) or d.get("$message_type", "diagnostic") != "diagnostic":
            continue
        span = next((s for s in d.get("spans") or [] if s.get("is_primary")), None)
        level = d.get("level", "")
        if span is not None and span.get("file_name") == BINDING and level in ("warning",
                                                                                "error"):
            code = (d.get("code") or {}).get("code") or level
            mine.append(Finding(span["line_start"], span["column_start"], level, code,
                                d.get("message", "")))
        elif level == "error" and not d.get("message", "").startswith("aborting due to"):
            errors.append((d.get("rendered") or d.get("message", "")).strip())
    return mine, errors


def _report(what: str, mine: list[Finding], errors: list[str], flags: makeflags.LintFlags,
            rc: int) -> LintResult:
    item = f"lint.{what}"
    extra = []
    for e in errors:
        extra += compile_errors(e) or [e.splitlines()[0]]
    if not mine and not extra:
        if rc != 0:
            return LintResult(item, "error", f"{what} exited with status {rc} and no diagnostic")
        return LintResult(item, "pass", f"clean with the {len(flags.lints)} lint flags of the "
                                        f"tree's {flags.source}")
    n = len(mine)
    head = (f"{n} {'finding' if n == 1 else 'findings'} in {BINDING} with the lint flags of "
            f"the tree's {flags.source}")
    body = "; ".join([*map(str, mine), *extra])
    return LintResult(item, "fail", f"{head}: {body}", mine[0].line if mine else 0)


def _flags(tree: KernelTree, which: str) -> makeflags.LintFlags | str:
    flags = makeflags.lint_flags(tree.root, makeflags.rustc_version_number(_version_of(rustc())),
                                 which)
    if flags is None:
        return (f"{tree.root} has no top-level Makefile to read the lint flags from (a tree "
                "fetched by an older harness: run `buddy-harness kernel fetch VERSION` again)")
    return flags


def _crate_lint(what: str, tree: KernelTree, build: RustBuild) -> LintResult:
    """clippy or rustdoc over the kernel crate as the tree's build would run it."""
    item = f"lint.{what}"
    exe, missing = tool(what)
    if exe is None:
        return LintResult(item, "skip", missing)
    flags = _flags(tree, what)
    if isinstance(flags, str):
        return LintResult(item, "skip", flags)
    clippy_toml = tree.root / ".clippy.toml"

    def run() -> LintResult:
        with tempfile.TemporaryDirectory(prefix="buddy-harness-lint-") as tmp:
            crate = Path(tmp) / "src"
            assemble_crate(tree, crate)
            common = [*flags.args(), "--error-format=json",
                      *kernel_crate_args(crate, build.macros, build.glue)]
            if what == "clippy":
                cmd = [exe, *(f for f in RUSTFLAGS if not f.startswith("--edition")), *common,
                       "--emit=metadata", "--out-dir", tmp]
            else:  # rustdoc takes no codegen flags; path remapping is unstable there
                cmd = [exe, "-Zunstable-options", *common, "-o", f"{tmp}/doc"]
            env = dict(_env(), CLIPPY_CONF_DIR=str(tree.root))
            try:
                p = invoke(cmd, env=env)
            except subprocess.TimeoutExpired:
                return LintResult(item, "error", f"{what}: no end after {TIMEOUT:g} s")
        mine, errors = findings(p.stderr)
        return _report(what, mine, errors, flags, p.returncode)

    # build.dir is named by the digest of the crate's every input (buddy.rs, the tree's
    # modules, the stand-ins, the bindings and the compiler).
    return _cached(item, [_version_of(exe), " ".join(flags.args()), " ".join(RUSTFLAGS),
                          build.dir.name, _read(clippy_toml) if what == "clippy" else b""], run)


# -- rustfmt ------------------------------------------------------------------------------

def _rustfmt(tree: KernelTree) -> LintResult:
    item = "lint.rustfmt"
    exe, missing = tool("rustfmt")
    if exe is None:
        return LintResult(item, "skip", missing)
    src = tree.root / BINDING
    config = tree.root / ".rustfmt.toml"
    flags = makeflags.lint_flags(tree.root, 0, "clippy")
    edition = flags.edition if flags else "2021"
    using = ("the tree's .rustfmt.toml" if config.is_file() else
             f"rustfmt's defaults (the tree has no .rustfmt.toml; edition {edition}, as the "
             "build's flags give it)")

    def run() -> LintResult:
        with tempfile.TemporaryDirectory(prefix="buddy-harness-rustfmt-") as tmp:
            # Always an explicit config, so no rustfmt.toml above the tree or in $HOME counts.
            cfg = Path(tmp) / "rustfmt.toml"
            cfg.write_bytes(config.read_bytes() if config.is_file() else
                            f'edition = "{edition}"\n'.encode())
            base = [exe, "--config-path", str(cfg), "--color", "never"]
            try:
                p = invoke([*base, "--check", str(src)])
                if p.returncode == 0:
                    return LintResult(item, "pass", f"formatted as {using} asks")
                out = invoke([*base, "--emit", "stdout", str(src)]) if "Diff in" in p.stdout \
                    else None
            except subprocess.TimeoutExpired:
                return LintResult(item, "error", f"rustfmt: no end after {TIMEOUT:g} s")
        return _rustfmt_report(p, out, src, using)

    return _cached(item, [_version_of(exe), _read(src), _read(config), using], run)


def _rustfmt_report(p: subprocess.CompletedProcess[str],
                    formatted: subprocess.CompletedProcess[str] | None, src: Path,
                    using: str) -> LintResult:
    item = "lint.rustfmt"
    lines = [int(m[1]) for m in re.finditer(r"^Diff in .*?(?::| at line )(\d+):?\s*$",
                                            p.stdout, re.M)]
    if not lines:
        err = " ".join((p.stderr or p.stdout).split())[:400]
        return LintResult(item, "fail", f"rustfmt could not check {BINDING}: {err}")
    kind = ""
    if formatted is not None and formatted.returncode == 0:
        # --emit stdout names the file first; compare everything that is not whitespace.
        new = formatted.stdout.lstrip().removeprefix(f"{src}:")
        same = re.sub(r"\s+", "", new) == re.sub(r"\s+", "", src.read_text(errors="replace"))
        kind = (", whitespace only (indentation and line breaks)" if same else
                ", some beyond whitespace")
    n = len(lines)
    where = f"{BINDING}:{lines[0]}" + "".join(f", :{ln}" for ln in lines[1:])
    return LintResult(item, "fail", f"rustfmt --check with {using}: {n} "
                                    f"{'place' if n == 1 else 'places'} to reformat{kind}: "
                                    f"{where}", lines[0])


def run_all(tree: KernelTree, build: RustBuild) -> list[LintResult]:
    """The three items, in ITEMS' order; clippy and rustdoc (a few seconds each, cold) at
    once, as an edit of buddy.rs makes both run again."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        doc = pool.submit(_crate_lint, "rustdoc", tree, build)
        by_id = {r.id: r for r in (_crate_lint("clippy", tree, build), _rustfmt(tree),
                                   doc.result())}
    return [by_id[i] for i in ITEMS]


class LintSuite:
    """The lint items of one ``rust@`` backend, run on a thread of their own beside the cases."""

    kind = "lint"

    def __init__(self, backend: RustBackend) -> None:
        self.backend = backend
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._results: Future[list[LintResult]] | None = None

    def start(self) -> None:
        if self._results is None:
            self._results = self._pool.submit(run_all, self.backend.tree, self.backend.build)

    def outcomes(self) -> list[Outcome]:
        self.start()
        assert self._results is not None
        return [Outcome(r.id, "", self.backend.name, r.status, r.message, file=BINDING,
                        line=r.line) for r in self._results.result()]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
