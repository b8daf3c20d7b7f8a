"""The native backend: the kernel's own buddy allocator C, built in user space.

Names: ``native`` (the tree in ``--kernel-src`` or ``$BUDDY_HARNESS_KERNEL_SRC``),
``native@VERSION`` (Debian's ``linux-source-VERSION``, fetched into the cache on
first use) and ``native@PATH`` (a kernel tree on disk).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from harness.backends.base import BackendUnavailable
from harness.backends.names import BackendRef
from harness.backends.native import build as _build
from harness.backends.native import kernels
from harness.backends.native.backend import NativeAllocator, NativeBackend
from harness.backends.native.inprocess import InprocessBackend
from harness.backends.native.tree import KernelTree, inspect

ENV_SRC = "BUDDY_HARNESS_KERNEL_SRC"
_VERSION = re.compile(r"^\d+\.\d+$")

__all__ = ["open_backend", "open_inprocess", "resolve_tree", "NativeBackend", "NativeAllocator",
           "InprocessBackend", "ENV_SRC"]


def resolve_tree(name: str, kernel_src: str | None = None,
                 log: Callable[[str], None] = print) -> KernelTree:
    """The kernel tree a backend name designates, fetching a version on first use.

    Any family works (``native@X``, ``rust@X``): X is a version, else an existing
    path, else a tree made by ``kernel patch``.
    """
    ref = BackendRef(name)
    family, what = ref.family, ref.what
    if what is None:
        src = kernel_src or os.environ.get(ENV_SRC)
        if not src:
            raise BackendUnavailable(
                f"'{name}' needs a kernel tree: pass --kernel-src PATH or set "
                f"{ENV_SRC}, or name a version (--backend {name}@7.2 fetches Debian's "
                "linux-source-7.2 on first use)")
        return inspect(Path(src).expanduser())
    if _VERSION.match(what):
        return inspect(ensure_version(what, log))
    path = Path(what).expanduser()
    if path.exists():
        return inspect(path)
    from harness.patching.trees import locate

    patched = locate(what)
    if patched is None:
        raise BackendUnavailable(f"{name}: {path} does not exist (give a kernel tree "
                                 f"directory, a version like {family}@7.2, or the NAME of "
                                 "`buddy-harness kernel patch NAME --onto VERSION FILE`)")
    return inspect(patched)


def ensure_version(version: str, log: Callable[[str], None] = print) -> Path:
    """The cached tree of ``version``, fetched now if it is not there yet (parallel test
    workers may all want it: one fetches, the rest wait for its tree)."""
    found = kernels.locate(version)
    if found:
        return found
    why = kernels.damage(kernels.kernels_dir() / version)
    if why:
        log(f"{why}: fetching linux-source-{version} again")
    else:
        log(f"kernel {version} is not cached yet: fetching linux-source-{version} "
            "(once; `buddy-harness kernel fetch` does it ahead of time)")
    try:
        return kernels.fetch(version, log, again=False)
    except kernels.FetchError as e:
        raise BackendUnavailable(f"native@{version}: {e}") from None


def _built(tree: KernelTree, sanitize: bool, log: Callable[[str], None]) -> _build.Build:
    return _built_variant(tree, log, sanitize=sanitize)


def _built_variant(tree: KernelTree, log: Callable[[str], None], *, sanitize: bool = False,
                   coverage: bool = False) -> _build.Build:
    b = _build.build(tree, sanitize=sanitize, coverage=coverage)
    if not b.cached:
        how = " with ASan + UBSan" if sanitize else " with coverage counters" if coverage else ""
        log(f"built the {tree.api} allocator of Linux {tree.version}{how} in "
            f"{b.seconds:.1f} s -> {b.dir}")
    return b


def open_backend(name: str, *, kernel_src: str | None = None, sanitize: bool = False,
                 timeout: float = 10.0, log: Callable[[str], None] = print) -> NativeBackend:
    """Open ``name`` (native, native@VERSION, native@PATH); BackendUnavailable says what to do."""
    tree = resolve_tree(name, kernel_src, log)
    backend = NativeBackend(name, tree, _built(tree, sanitize, log), timeout=timeout)
    _say_without_kunit(tree, log)
    return backend


_told: set[Path] = set()


def _say_without_kunit(tree: KernelTree, log: Callable[[str], None]) -> None:
    """Once per tree and process: a tree without a KUnit file has no KUnit items."""
    from harness.kunit import source

    if tree.root not in _told and source.find(tree) is None:
        _told.add(tree.root)
        log(f"{tree.root}: no KUnit file for the {tree.api} allocator "
            f"({source.FILES[tree.api][0]} not found): no KUnit items from this tree")


def open_inprocess(name: str, *, kernel_src: str | None = None,
                   log: Callable[[str], None] = print) -> InprocessBackend:
    """The same allocator loaded into this process (ctypes; calls release the GIL)."""
    tree = resolve_tree(name, kernel_src, log)
    return InprocessBackend(name, tree, _built(tree, False, log))
