"""The native backend: the kernel's own buddy allocator C, built in user space.

Names: ``native`` (the tree in ``--kernel-src`` or ``$BUDDY_HARNESS_KERNEL_SRC``),
``native@VERSION`` (Debian's ``linux-source-VERSION``, fetched into the cache on
first use) and ``native@PATH`` (a kernel tree on disk).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.native import build as _build
from harness.backends.native.backend import NativeAllocator, NativeBackend
from harness.trees import resolve_tree
from harness.trees.tree import KernelTree

if TYPE_CHECKING:
    from harness.backends.native.inprocess import InprocessBackend

__all__ = ["open_backend", "open_inprocess", "NativeBackend", "NativeAllocator",
           "InprocessBackend"]


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
    from harness.backends.native.inprocess import InprocessBackend

    tree = resolve_tree(name, kernel_src, log)
    return InprocessBackend(name, tree, _built(tree, False, log))


def __getattr__(name: str) -> object:
    # ctypes only for who uses the in-process allocator, not on the way to a build.
    if name == "InprocessBackend":
        from harness.backends.native.inprocess import InprocessBackend

        return InprocessBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
