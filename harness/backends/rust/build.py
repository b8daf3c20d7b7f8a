"""Build a tree's Rust binding in user space: its crates, a stand-in ``kernel`` crate, a worker.

Stages, each cached under ``$XDG_CACHE_HOME/buddy-harness/rust/`` by a hash of
its inputs, so an edit to ``buddy.rs`` rebuilds only the last two:

1. **macros**: the tree's ``proc-macro2``, ``quote``, ``syn``, ``pin-init`` (with
   its internal proc macros), ``macros``, ``ffi`` and ``build_error`` crates, with
   the cfgs ``rust/Makefile`` gives them. They depend only on the tree's
   ``rust/`` crates and the compiler (about a minute cold on 2 cores).
2. **kernel**: bindgen over the tree's ``gpu_buddy.h`` and its Rust helpers; the
   tree's ``rust/helpers`` C and the harness's lock glue compiled with gcc; the
   ``kernel`` crate made of the tree's own modules (``STANDIN_TREE_FILES``) plus
   the harness's stand-ins (``standin/kernel/``); and the worker program. The C
   allocator is the native backend's build of the same tree, linked in.

Doctest programs are built from the same crate (:mod:`harness.backends.rust.doctests`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import integrity, leftovers
from harness.backends.base import BackendUnavailable
from harness.backends.native import build as native_build
from harness.cachedir import prune
from harness.trees.kernels import cache_root
from harness.trees.tree import KernelTree

STANDIN = Path(__file__).with_name("standin")
BINDING = "rust/kernel/gpu/buddy.rs"
# The tree's own kernel-crate modules that need no running kernel, used verbatim.
STANDIN_TREE_FILES = (
    "error.rs", "init.rs", "types.rs", "types/for_lt.rs", "ptr.rs", "ptr/projection.rs",
    "interop.rs", "interop/list.rs", "impl_flags.rs", "build_assert.rs", "sizes.rs",
    "sync/lock.rs", "sync/lock/mutex.rs", "sync/lock/spinlock.rs", "sync/lock/global.rs",
    "sync/locked_by.rs", "gpu.rs", "gpu/mod.rs", "gpu/buddy.rs",
)
MACRO_CRATES = ("proc-macro2", "quote", "syn", "pin-init", "macros")
HELPERS = ("rust/helpers/gpu.c", "rust/helpers/list.c", "rust/helpers/err.c")
# As the kernel configures it by default (CONFIG_RUST_OVERFLOW_CHECKS=y), and panics
# end the process like a kernel oops ends the task: the worker reports it as a crash.
RUSTFLAGS = ["--edition=2021", "-O", "-C", "overflow-checks=on", "-C", "panic=abort"]
# The programs that drive the binding (worker, doctests) are compiled for a short
# edit-to-verdict loop rather than for speed; the code under test keeps RUSTFLAGS.
PROGRAM_FLAGS = ["--edition=2021", "-C", "opt-level=0", "-C", "overflow-checks=on",
                 "-C", "panic=abort"]
SYN_FEATURES = ("clone-impls", "derive", "full", "parsing", "printing", "proc-macro", "visit",
                "visit-mut")
WORKER = "rust-worker"


class RustBuildError(BackendUnavailable):
    """The Rust side did not build; the message says where and what to do."""


@dataclass(frozen=True)
class RustBuild:
    dir: Path  # holds libkernel.rlib and the worker
    worker: Path
    macros: Path
    glue: Path  # libbindings.rlib and glue.a
    native: Path  # the native build directory (libbuddy.so)
    seconds: float  # 0 when everything came from the cache
    macro_seconds: float

    def link_args(self) -> list[str]:
        """rustc arguments that link a program against the stand-in crate and the C."""
        return [*_externs(self.macros), "-L", str(self.dir), "-L", str(self.glue),
                "--extern", f"bindings={self.glue / 'libbindings.rlib'}", "--extern",
                f"kernel={self.dir / 'libkernel.rlib'}",
                "-C", f"link-arg={self.glue / 'glue.a'}",
                "-C", f"link-arg=-L{self.native}", "-C", "link-arg=-lbuddy",
                "-C", f"link-arg=-Wl,-rpath,{self.native}", "-C", "link-arg=-lpthread"]


# -- tools ----------------------------------------------------------------------

def tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RustBuildError(f"the Rust backend needs {name}: {hint}")
    return path


def rustc() -> str:
    return tool(os.environ.get("RUSTC", "rustc"),
                "install a Rust toolchain (rustc >= 1.85) or set RUSTC")


def bindgen() -> str:
    return tool(os.environ.get("BINDGEN", "bindgen"),
                "apt-get install bindgen (Debian's package), or set BINDGEN")


def toolchain_missing() -> str | None:
    """Why the Rust backend cannot build here, or None."""
    try:
        rustc()
        bindgen()
    except RustBuildError as e:
        return str(e)
    return None


@functools.cache
def _version_of(exe: str) -> str:
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return exe


def _env() -> dict[str, str]:
    # The kernel crate and pin-init use unstable features, as the kernel's build does.
    return dict(os.environ, RUSTC_BOOTSTRAP="1")


# -- hashing --------------------------------------------------------------------

def _digest(parts: Iterable[str | bytes | Path]) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):  # by content: the same crates elsewhere are the same build
            h.update(p.read_bytes() if p.is_file() else b"-")
        else:
            h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]


# -- stage 1: the tree's proc-macro and support crates ---------------------------

def _externs(macros: Path) -> list[str]:
    return ["-L", str(macros), "--extern", f"ffi={macros / 'libffi.rlib'}",
            "--extern", f"pin_init={macros / 'libpin_init.rlib'}",
            "--extern", f"build_error={macros / 'libbuild_error.rlib'}",
            "--extern", f"macros={macros / 'libmacros.so'}"]


def _macro_steps(r: Path, rc: str) -> list[tuple[str, list[str]]]:
    """(crate, rustc command) in dependency order; cfgs as rust/Makefile gives them."""
    common = [rc, "-O", "--cap-lints=allow", "-L", "{out}", "--out-dir", "{out}"]
    syn_cfgs = [a for f in SYN_FEATURES for a in ("--cfg", f'feature="{f}"')]
    pm = ["--extern", "proc_macro2", "--extern", "quote", "--extern", "syn"]
    return [
        ("proc_macro2", [*common, "--edition=2021", "--crate-type", "rlib", "--crate-name",
                         "proc_macro2", "--cfg", 'feature="proc-macro"', "--cfg",
                         "wrap_proc_macro", "--cfg", "proc_macro_span_file", "--cfg",
                         "proc_macro_span_location", str(r / "proc-macro2/lib.rs")]),
        ("quote", [*common, "--edition=2018", "--crate-type", "rlib", "--crate-name", "quote",
                   "--extern", "proc_macro2", "--cfg", 'feature="proc-macro"',
                   str(r / "quote/lib.rs")]),
        ("syn", [*common, "--edition=2021", "--crate-type", "rlib", "--crate-name", "syn",
                 "--extern", "proc_macro2", "--extern", "quote", *syn_cfgs,
                 str(r / "syn/lib.rs")]),
        ("pin_init_internal", [*common, "--edition=2021", "--crate-type", "proc-macro",
                               "--crate-name", "pin_init_internal", "--extern", "proc_macro",
                               *pm, "--cfg", "kernel", "--cfg", "USE_RUSTC_FEATURES",
                               str(r / "pin-init/internal/src/lib.rs")]),
        ("macros", [*common, "--edition=2021", "--crate-type", "proc-macro", "--crate-name",
                    "macros", "--extern", "proc_macro", *pm, "--cfg",
                    "CONFIG_RUSTC_HAS_SPAN_FILE", str(r / "macros/lib.rs")]),
        ("pin_init", [*common, "--edition=2021", "--crate-type", "rlib", "--crate-name",
                      "pin_init", "--extern", "pin_init_internal", "--extern", "macros",
                      "--cfg", "kernel", "--cfg", "USE_RUSTC_FEATURES",
                      str(r / "pin-init/src/lib.rs")]),
        ("ffi", [*common, "--edition=2021", "--crate-type", "rlib", "--crate-name", "ffi",
                 str(r / "ffi.rs")]),
        ("build_error", [*common, "--edition=2021", "--crate-type", "rlib", "--crate-name",
                         "build_error", str(r / "build_error.rs")]),
    ]


def _build_macros(tree: KernelTree, rc: str, log) -> tuple[Path, float]:
    r = tree.root / "rust"
    missing = [c for c in (*MACRO_CRATES, "ffi.rs", "build_error.rs") if not (r / c).exists()]
    if missing:
        raise RustBuildError(f"{tree.root}: the tree's rust/ lacks {', '.join(missing)} "
                             "(a tree fetched before the Rust backend existed: run "
                             "`buddy-harness kernel fetch VERSION` again)")
    inputs = [p for c in (*MACRO_CRATES, "ffi.rs", "build_error.rs") for p in _files(r / c)]
    key = _digest([_version_of(rc), *[str(p.relative_to(r)) for p in inputs], *inputs])
    out = cache_root() / "rust" / f"macros-{key}"
    def make(tmp: Path) -> None:
        log(f"building the Rust tree crates of {tree.root} (proc-macro2, quote, syn, "
            "pin-init, macros): once per tree, about half a minute on 2 cores")
        for crate, cmd in _macro_steps(r, rc):
            _run([a.replace("{out}", str(tmp)) for a in cmd], f"building the tree's {crate} "
                 "crate")

    t0 = time.monotonic()
    built = integrity.build_once(out, make, lambda: _scratch(out))
    return out, time.monotonic() - t0 if built else 0.0


# -- stage 2: bindings, C glue, the kernel crate, the worker ----------------------

def _flag_macros(header: str) -> list[str]:
    """The header's flag macros (``#define GPU_BUDDY_X BIT(n)``) bindgen cannot evaluate."""
    return re.findall(r"^#define\s+(GPU_BUDDY_[A-Z_]+)\s+BIT\(\d+\)", header, re.M)


def _compiler_builtin_headers() -> list[str]:
    """gcc's own stdbool.h and friends, so bindgen's libclang needs no headers of its own."""
    try:
        d = subprocess.run([native_build.compiler(), "-print-file-name=include"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["-isystem", d] if d and Path(d).is_dir() else []


def _bindings_header(tree: KernelTree) -> str:
    consts = "".join(f"const unsigned long BH_CONST_{m} = {m};\n"
                     for m in _flag_macros(tree.header.read_text(errors="replace")))
    helpers = "".join(f'#include "{tree.root / h}"\n' for h in HELPERS)
    return ("#include <linux/gpu_buddy.h>\n#include <linux/list.h>\n#include <linux/sizes.h>\n"
            '#include "bh_rust_glue.h"\n#define __rust_helper\n'
            f"{helpers}{consts}")


def _c_flags(tree: KernelTree, incdir: Path) -> list[str]:
    """The native build's include setup: only the allocator's header from the tree."""
    csrc = native_build.CSRC
    return ["-include", str(csrc / "include/bh_prelude.h"), f"-I{csrc / 'include'}",
            f"-I{incdir}", f"-I{tree.root / 'tools/include'}", f"-I{STANDIN}",
            "-DCONFIG_GPU_BUDDY=1"]


def _generate_bindings(tree: KernelTree, tmp: Path, cflags: list[str]) -> None:
    hdr = tmp / "bh_bindings.h"
    hdr.write_text(_bindings_header(tree))
    allow_fn = r"^(gpu_buddy_.*|rust_helper_.*|__mutex_init|mutex_.*|__spin_lock_init|spin_.*)$"
    cmd = [bindgen(), str(hdr), "--use-core", "--ctypes-prefix", "ffi", "--no-layout-tests",
           "--no-doc-comments", "--allowlist-function", allow_fn,
           "--allowlist-type", r"^(gpu_buddy.*|list_head|mutex|spinlock_t|lock_class_key)$",
           "--allowlist-var", r"^(E[A-Z0-9_]+|MAX_ERRNO|SZ_[0-9]+[KMG]|BH_CONST_.*)$",
           "--", *cflags, "-D__rust_helper=", *_compiler_builtin_headers()]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if p.returncode != 0:
        raise RustBuildError(f"bindgen over {tree.header} failed: {_first_error(p.stderr)}")
    text = p.stdout.replace("pub const BH_CONST_", "pub const ")
    # Helpers are the static inlines' out-of-line twins: callers use the inline's name.
    text = re.sub(r"pub fn rust_helper_(\w+)\(",
                  r'#[link_name = "rust_helper_\1"]\n    pub fn \1(', text)
    (tmp / "generated_bindings.rs").write_text(text)


# Kernel-crate API generations. A binding is built against the kernel crate of the series
# it was written on; where that API differs from the tree's own module, the stand-in
# supplies the older module (its own code, under standin/generations/NAME/) in place of
# the tree's, chosen by what the binding's source calls. The landed 7.2 API needs none.
GENERATIONS = {
    # Before 7.2, clist_create! took its arguments inside `unsafe { .. }`.
    "clist-unsafe-block": re.compile(r"clist_create!\(\s*unsafe\s*\{"),
}


def generation(tree: KernelTree) -> str | None:
    """The kernel-crate API generation the tree's binding is written for (None: the tree's)."""
    text = (tree.root / BINDING).read_text(errors="replace")
    return next((g for g, pat in GENERATIONS.items() if pat.search(text)), None)


def binding_api(tree: KernelTree) -> str:
    """Which binding API the worker speaks: ``landed`` (7.2) or ``v12`` (the v12.1 posting's
    ``physical_memory_size``, ``free_memory()``, ``usize`` sizes, ``Range { start, end }``)."""
    text = (tree.root / BINDING).read_text(errors="replace")
    return "v12" if "physical_memory_size" in text else "landed"


def assemble_crate(tree: KernelTree, dest: Path, binding: str | None = None) -> None:
    """The crate's source tree: the stand-ins copied, the tree's modules linked (with
    ``binding`` as the text of ``buddy.rs`` in place of the tree's, for a mutant)."""
    k = tree.root / "rust/kernel"
    gen = generation(tree)
    # bindings/ and worker/ are crates of their own; a generation's modules go over the tree's.
    for base in (STANDIN / "kernel", *([STANDIN / "generations" / gen] if gen else [])):
        for p in _files(base):
            target = dest / p.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
    if binding is not None:
        target = dest / Path(BINDING).relative_to("rust/kernel")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(binding, encoding="utf-8")
    for rel in STANDIN_TREE_FILES:
        if (k / rel).is_file() and not (dest / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).symlink_to(k / rel)


def _rel(tree: KernelTree, p: Path) -> str:
    return str(p.relative_to(STANDIN if p.is_relative_to(STANDIN) else tree.root))


def _kernel_inputs(tree: KernelTree) -> list[Path]:
    k = tree.root / "rust/kernel"
    return [*(k / rel for rel in STANDIN_TREE_FILES), *_files(STANDIN / "kernel"),
            *_files(STANDIN / "generations"), *_files(STANDIN / "worker")]


GLUE_FILES = ("glue.c", "bh_rust_glue.h", "bindings/lib.rs")


def build(tree: KernelTree, *, log=print) -> RustBuild:
    """The cached Rust build of ``tree`` (built first if anything changed)."""
    if not (tree.root / BINDING).is_file():
        raise RustBuildError(
            f"{tree.root}: no {BINDING} in this tree (Linux {tree.version}); the Rust binding "
            "landed in 7.2: use rust@7.2, or native@ for the C alone")
    rc = rustc()
    bindgen()
    t0 = time.monotonic()
    macros, macro_s = _build_macros(tree, rc, log)
    nat = native_build.build(tree)
    # The bindings and the C glue depend on the header and helpers, not on buddy.rs: an
    # edit to the binding rebuilds only the kernel crate, the worker and the doctests.
    glue_in = [tree.header, *(tree.root / h for h in HELPERS), *(STANDIN / f for f in GLUE_FILES)]
    glue_key = _digest([macros.name, str(nat.dir), _version_of(rc), " ".join(RUSTFLAGS),
                        *[_rel(tree, p) for p in glue_in], *glue_in])
    glue = _cached_stage(cache_root() / "rust" / f"glue-{tree.version}-{glue_key}",
                         lambda tmp: _build_glue(tree, rc, macros, tmp))
    inputs = _kernel_inputs(tree)
    key = _digest([glue.name, " ".join(PROGRAM_FLAGS), *[_rel(tree, p) for p in inputs],
                   *inputs])
    out = cache_root() / "rust" / f"{tree.version}-{key}"
    built = integrity.build_once(out, lambda tmp: _build_kernel(tree, rc, macros, glue,
                                                                 nat.dir, tmp),
                                 lambda: _scratch(out))
    if built:  # every edit of buddy.rs makes one: keep the recent ones
        prune(out.parent, f"{tree.version}-*")
        prune(out.parent, "glue-*")
        prune(out.parent, "macros-*", keep=4)
    took = 0.0 if not built and macro_s == 0 else time.monotonic() - t0
    return RustBuild(out, out / WORKER, macros, glue, nat.dir, took, macro_s)


def _cached_stage(out: Path, make) -> Path:
    """``out`` once ``make(tmp)`` has filled it (skipped when it is there, undamaged)."""
    integrity.build_once(out, make, lambda: _scratch(out))
    return out


def _build_glue(tree: KernelTree, rc: str, macros: Path, tmp: Path) -> None:
    """bindgen's bindings crate and the C the binding needs beside the allocator."""
    inc = tmp / "include" / tree.header.relative_to(tree.root / "include")
    inc.parent.mkdir(parents=True)
    shutil.copyfile(tree.header, inc)
    cflags = _c_flags(tree, tmp / "include")
    cc = native_build.compiler()

    def compile_c(src: Path) -> Path:
        obj = tmp / (src.stem + ".o")
        _run([cc, *native_build.BASE_FLAGS, "-O2", *cflags, "-D__rust_helper=", "-c",
              str(src), "-o", str(obj)], f"compiling {src.name}")
        return obj

    shutil.copytree(STANDIN / "bindings", tmp / "bindings")
    with ThreadPoolExecutor(max_workers=2) as pool:
        # bindgen and the C objects are independent of each other.
        bind = pool.submit(_generate_bindings, tree, tmp / "bindings", cflags)
        objs = list(pool.map(compile_c, [STANDIN / "glue.c", *(tree.root / h for h in HELPERS)]))
        bind.result()
    _run(["ar", "rcs", str(tmp / "glue.a"), *map(str, objs)], "archiving the C glue")
    _run([rc, *RUSTFLAGS, "--crate-type", "rlib", "--crate-name", "bindings",
          *_externs(macros), "--out-dir", str(tmp), str(tmp / "bindings/lib.rs")],
         "building the bindings crate")


def kernel_crate_args(crate: Path, macros: Path, glue: Path) -> list[str]:
    """What any compiler (rustc, clippy, rustdoc) needs for the kernel crate at ``crate``."""
    return ["--crate-type", "rlib", "--crate-name", "kernel",
            f"--remap-path-prefix={crate}=rust/kernel",  # errors name the tree's own files
            "--cfg", 'CONFIG_GPU_BUDDY="y"', "--cfg", "testlib", *_externs(macros),
            "--extern", f"bindings={glue / 'libbindings.rlib'}", str(crate / "lib.rs")]


def _build_kernel(tree: KernelTree, rc: str, macros: Path, glue: Path, native: Path,
                  tmp: Path, binding: str | None = None) -> None:
    crate = tmp / "src"
    assemble_crate(tree, crate, binding)
    _run([rc, *RUSTFLAGS, *kernel_crate_args(crate, macros, glue), "--out-dir", str(tmp)],
         f"building the kernel crate with {tree.root / BINDING}")
    b = RustBuild(tmp, tmp / WORKER, macros, glue, native, 0, 0)
    _run([rc, *PROGRAM_FLAGS, "--crate-type", "bin", "--crate-name", "rust_worker",
          "--cfg", f'bh_api="{binding_api(tree)}"', *b.link_args(), "-o", str(tmp / WORKER),
          str(STANDIN / "worker/main.rs")],
         f"building the binding worker ({binding_api(tree)} API)")


# -- helpers ----------------------------------------------------------------------

def _scratch(out: Path) -> Path:
    return leftovers.scratch(out.parent, "build")


def _run(cmd: list[str], what: str) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if p.returncode != 0:
        raise RustBuildError(f"{what} failed: {_first_error(p.stderr + p.stdout)}")


def _first_error(text: str) -> str:
    """The compiler's first error with its location (rustc puts it on the next line)."""
    errors = compile_errors(text)
    if errors:
        return errors[0]
    rest = [ln for ln in text.splitlines() if ln.strip()]
    return rest[0].strip() if rest else "(no compiler output)"


def compile_errors(text: str) -> list[str]:
    """Every error the compiler printed, in its order, each with its location; rustc's
    closing summary ("aborting due to N previous errors") is not one of them."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("error: aborting due to"):
            continue
        if line.startswith("error") or " error:" in line or "undefined reference" in line:
            loc = next((ln.strip()[3:].strip() for ln in lines[i + 1:i + 3]
                        if ln.strip().startswith("-->")), "")
            out.append(line.strip() + (f" at {loc}" if loc else ""))
    return out
