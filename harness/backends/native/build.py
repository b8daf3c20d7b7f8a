"""Build a kernel tree's buddy allocator into a shared library and a worker executable.

The tree's own C file is compiled with the tree's ``tools/include`` and
``tools/lib/rbtree.c`` plus the harness's shim headers (``csrc/``).  Builds
are cached under ``$XDG_CACHE_HOME/buddy-harness/build/<key>/``; the key hashes
the kernel version, every input file, the shim and the compiler flags, so a
changed source or flag is a new build and an unchanged one costs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness import integrity, leftovers, procs
from harness.backends.base import BackendUnavailable
from harness.backends.native import digests, early, objcache
from harness.trees.kernels import cache_root
from harness.trees.tree import KernelTree

CSRC = Path(__file__).with_name("csrc")
# As the kernel builds: no strict aliasing or overflow assumptions, keep null checks.
KERNEL_LIKE = ["-fno-strict-aliasing", "-fno-strict-overflow", "-fno-delete-null-pointer-checks"]
BASE_FLAGS = ["-std=gnu11", "-fPIC", "-w", *KERNEL_LIKE]
# No debug info in the plain build: its reports come from __FILE__/__LINE__, and -g costs a
# quarter of the compile after each edit.  Sanitizer reports are symbolized, so they keep it.
OPT = ["-O2"]
SANITIZE = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
# gcc's line and branch counters; -O0 keeps every branch where the source has it.
COVERAGE = ["-O0", "--coverage", "-DBH_COVERAGE"]
LIB = "libbuddy.so"
WORKER = "buddy-worker"


class BuildError(BackendUnavailable):
    """The allocator did not compile; the message carries the compiler's first error."""


@dataclass(frozen=True)
class Build:
    dir: Path
    library: Path
    worker: Path
    sanitize: bool
    seconds: float  # 0 when it came from the cache
    cached: bool
    coverage: bool = False


def compiler() -> str:
    cc = os.environ.get("CC") or "gcc"
    if shutil.which(cc) is None:
        raise BuildError(f"the native backend needs a C compiler: '{cc}' not found "
                         "(install gcc, or set CC)")
    return cc


def flags(tree: KernelTree, sanitize: bool, coverage: bool = False) -> list[str]:
    api = ["-DBH_API_DRM"] if tree.api == "drm_buddy" else []
    mode = SANITIZE if sanitize else COVERAGE if coverage else OPT
    return [*BASE_FLAGS, *mode, *api]


def build(tree: KernelTree, *, sanitize: bool = False, coverage: bool = False) -> Build:
    """The cached build of ``tree``, compiling it first if needed.

    ``coverage`` is a variant of its own (gcc ``--coverage``): it keeps the
    allocator's ``allocator.gcno`` beside the worker for gcov.  An input file that
    changes while it is built (saved again) makes the build start over: what is
    published, or kept as an object, is always what its key says.
    """
    cc = compiler()
    fl = flags(tree, sanitize, coverage)
    t0 = time.monotonic()
    for _ in range(ATTEMPTS):
        try:
            return _build(tree, cc, fl, sanitize, coverage, t0)
        except _Changed as e:
            changed = e.path
    raise BuildError(f"{changed} changed while the allocator was built, {ATTEMPTS} times "
                     "over: run again once it is saved")


ATTEMPTS = 3


class _Changed(Exception):
    def __init__(self, path: Path) -> None:
        self.path = path


def _build(tree: KernelTree, cc: str, fl: list[str], sanitize: bool, coverage: bool,
           t0: float) -> Build:
    parent = cache_root() / "build"
    began = time.time_ns()
    # An edited allocator compiles while the key is worked out (harness.backends.native.early);
    # not for coverage, whose counters' notes file is the build's own.
    seen = early.mark(tree, cc, fl)
    started = early.take(seen)  # started from the command line (harness.prelaunch)
    if started is None and not coverage and early.edited(tree, seen):
        started = _start_compile(tree, cc, fl)
    if started is not None:  # the build's time and its inputs' stability count from its gcc
        t0, began = min(t0, started.t0), min(began, started.began)
    try:
        headers = _headers(tree)  # listed and hashed once: the key and the objects' keys agree
        found: dict[Path, str] = {}
        key = _key(tree, cc, fl, headers, found)
        variant = "asan-" if sanitize else "cov-" if coverage else ""
        out = parent / f"{tree.version}-{variant}{key[:16]}"
        # A damaged build (or one from before seals) is rebuilt.
        built = integrity.build_once(
            out, lambda tmp: _compile(tree, cc, fl, tmp, headers, found, began, started),
            (lambda: started.dir) if started else (lambda: leftovers.scratch(parent, "build")))
    finally:
        if started is not None:
            early.end(started)  # ended and removed unless the build took it
    early.done(seen)
    return Build(out, out / LIB, out / WORKER, sanitize,
                 time.monotonic() - t0 if built else 0.0, not built, coverage)


def _unchanged_since(paths: Iterable[Path], began: int) -> None:
    """Raise _Changed for the first of ``paths`` changed after ``began`` (``time_ns``): its
    ctime, which the kernel sets on every write or rename and ``touch`` cannot set back."""
    for p in paths:
        try:
            if os.stat(p).st_ctime_ns >= began:
                raise _Changed(p)
        except FileNotFoundError:
            raise _Changed(p) from None


def start_early(tree: KernelTree, *, sanitize: bool = False) -> None:
    """Start compiling ``tree``'s allocator now if it is edited; :func:`build` with the
    same options takes the compile, and one no build takes is ended at exit."""
    cc = compiler()
    fl = flags(tree, sanitize)
    seen = early.mark(tree, cc, fl)
    if early.edited(tree, seen):
        started = _start_compile(tree, cc, fl)
        if started is not None:
            early.keep(seen, started)


def _start_compile(tree: KernelTree, cc: str, fl: list[str]) -> early.Started | None:
    """The allocator's compile, begun before its key (harness.backends.native.early)."""
    return early.start([cc, *fl], tree, lambda d: include_flags(tree, d), cache_root() / "build")


def _key(tree: KernelTree, cc: str, fl: list[str], headers: list[Path] | None = None,
         found: dict[Path, str] | None = None) -> str:
    """The build's key; ``found`` receives each input file's digest (for the object keys)."""
    inputs = [tree.source, tree.header, tree.root / "tools/lib/rbtree.c",
              *(_headers(tree) if headers is None else headers)]
    h = hashlib.sha256()
    h.update(f"{tree.version}\0{tree.api}\0{' '.join(fl)}\0".encode())
    h.update(_compiler_id(cc).encode())
    # Each file by its digest, remembered across runs (and by a second instance of a backend)
    # while the file's state is unchanged: after an edit, only the edited file is read.
    got = digests.file_digests(inputs, str(tree.root))
    csrc, root = f"{CSRC}/", f"{tree.root}/"
    for p, digest in zip(inputs, got):
        name = str(p)
        h.update(name.removeprefix(csrc if name.startswith(csrc) else root).encode())
        h.update(b"\0" + digest.encode() + b"\0")
    if found is not None:
        found.update(zip(inputs, got))
    return h.hexdigest()


def _headers(tree: KernelTree) -> list[Path]:
    """What any unit may include besides the allocator's header: tools/include and the shim."""
    return [*_files_under(tree.root / "tools/include", ".h"), *_files_under(CSRC, "")]


def _files_under(top: Path, suffix: str) -> list[Path]:
    """Files (or links to one) named ``*suffix`` under ``top``, in path order, not following
    links to directories: what ``sorted(top.rglob("*suffix"))`` keeps of files, without a
    ``stat`` of every entry or comparing paths part by part."""
    found: list[str] = []

    def walk(d: str) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError:  # missing or unreadable: rglob skips it too
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                walk(e.path)
            elif e.name.endswith(suffix) and e.is_file():
                found.append(e.path)

    walk(str(top))
    return [Path(p) for p in sorted(found, key=lambda p: p.split("/"))]


@functools.cache
def _compiler_id(cc: str) -> str:
    """The first line of ``cc --version``, remembered across runs by the binary's state."""
    return digests.compiler_identity(cc, digests.version_line)


def include_flags(tree: KernelTree, out: Path) -> list[str]:
    """The compiler's include options, after copying the tree's header under ``out``."""
    # Only the allocator's own header goes on the include path: the kernel's whole
    # include/ would shadow the C library's headers.
    hdr = out / "include" / tree.header.relative_to(tree.root / "include")
    hdr.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tree.header, hdr)
    return ["-include", str(CSRC / "include/bh_prelude.h"), f"-I{CSRC / 'include'}",
            f"-I{out / 'include'}", f"-I{tree.root / 'tools/include'}", f"-I{CSRC}",
            # Warnings and BUG reports name files as the kernel tree does.
            f"-fmacro-prefix-map={tree.root}/=", f"-fmacro-prefix-map={CSRC}/=csrc/"]


def _compile(tree: KernelTree, cc: str, fl: list[str], out: Path, headers: list[Path],
             found: dict[Path, str], began: int, started: early.Started | None = None) -> None:
    # The allocator's compile started early ran in ``out`` with these very options.
    inc = started.inc if started else include_flags(tree, out)
    units = {"allocator.o": tree.source, "rbtree.o": tree.root / "tools/lib/rbtree.c",
             "wrapper.o": CSRC / "wrapper.c", "worker_main.o": CSRC / "worker_main.c"}
    shared = [tree.header, *headers]
    keys = objcache.unit_keys(shared, f"{_compiler_id(cc)}\0{' '.join(fl)}", units,
                              str(tree.root), found)
    compile_units([cc, *fl, *inc], units, keys, out,
                  lambda text, src: BuildError(f"building {src} failed: {_first_error(text)}"),
                  {early.OBJ: started.proc} if started else None,
                  lambda: _unchanged_since(found, began))
    san = [f for f in fl if f.startswith("-fsanitize") or f == "--coverage"]
    objs = [str(out / o) for o in ("allocator.o", "rbtree.o", "wrapper.o")]
    links = {name: procs.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # the two links at once: one per core
             for name, cmd in ((LIB, [cc, "-shared", *san, "-o", str(out / LIB), *objs]),
                               (WORKER, [cc, *san, "-o", str(out / WORKER),
                                         str(out / "worker_main.o"), *objs]))}
    try:
        for name, p2 in links.items():
            text, _ = p2.communicate()
            if p2.returncode != 0:
                raise BuildError(f"linking {name} failed: {_first_error(text)}")
    finally:
        for p2 in links.values():
            procs.end_group(p2)
    for o in units:
        (out / o).unlink()


def compile_units(cmd: list[str], units: dict[str, Path], keys: dict[str, str], out: Path,
                  error: Callable[[str, Path], Exception],
                  started: dict[str, subprocess.Popen] | None = None,
                  inputs_kept: Callable[[], None] | None = None) -> None:
    """Compile each unit to ``out/OBJ`` at once (one per core), or take it from the object
    cache; ``error(compiler output, source)`` is raised for the first that fails.
    ``started`` holds the compiles already running (``cmd`` on their unit, into ``out``);
    ``inputs_kept`` raises when an input changed during the compiles: then no object is
    kept under keys made of what they no longer are."""
    started = started or {}
    # In groups of their own, so a SIGINT or SIGTERM ends them too (harness.procs).
    cmds = {obj: started[obj] if obj in started else
            procs.spawn([*cmd, "-c", str(src), "-o", str(out / obj)],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for obj, src in units.items()
            if obj in started or not objcache.restore(keys[obj], out / obj)}
    try:
        failed = None
        for obj, p in cmds.items():
            text, _ = p.communicate()
            if p.returncode != 0:
                failed = error(text, units[obj])
                break
        if inputs_kept is not None:
            inputs_kept()  # a file saved meanwhile explains a failure too: not said as one
        if failed is not None:
            raise failed
        for obj in cmds:
            objcache.store(keys[obj], out / obj)
    finally:
        for p in cmds.values():  # the others, when one failed
            procs.end_group(p)


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if " error" in line or line.startswith("error") or "undefined reference" in line:
            return line.strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "(no compiler output)"
