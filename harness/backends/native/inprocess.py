"""The kernel's C loaded into this process with ctypes, for tests that need real threads.

ctypes releases the GIL around every foreign call, so Python threads really
run the C concurrently: exactly what the binding's lock must serialize.  There
is no crash isolation here; use the worker backend for anything else.
"""

from __future__ import annotations

import ctypes
import itertools
from ctypes import POINTER, c_char_p, c_int, c_long, c_uint, c_uint64, c_ulong, c_void_p

from harness.backends.base import (
    CLEARED,
    SLAB_BUDGET,
    BackendDefaults,
    Block,
    BuddyError,
    Capabilities,
)
from harness.backends.native.backend import errno_name
from harness.backends.native.build import Build
from harness.trees.tree import KernelTree

_SIGNATURES = {
    "bh_init": (c_void_p, [c_uint64, c_uint64, POINTER(c_int)]),
    "bh_size": (c_uint64, [c_void_p]),
    "bh_avail": (c_uint64, [c_void_p]),
    "bh_clear_avail": (c_uint64, [c_void_p]),
    "bh_alloc": (c_void_p, [c_void_p, c_uint64, c_uint64, c_uint64, c_uint64, c_ulong,
                            POINTER(c_int)]),
    "bh_blocks": (c_long, [c_void_p, POINTER(c_uint64), POINTER(c_uint), c_long]),
    "bh_free": (None, [c_void_p, c_void_p, c_uint]),
    "bh_trim": (c_int, [c_void_p, c_void_p, c_uint64, POINTER(c_uint64)]),
    "bh_reset_clear": (c_int, [c_void_p, c_int]),
    "bh_fini": (None, [c_void_p]),
    "bh_warn_pending": (c_int, []),
    "bh_warn_text": (c_char_p, [c_int]),
    "bh_warn_clear": (None, []),
    "bh_live": (c_long, []),
}


def load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class InprocessBackend(BackendDefaults):
    def __init__(self, name: str, tree: KernelTree, build: Build) -> None:
        if build.sanitize:
            raise ValueError("a sanitizer build cannot be loaded into the interpreter")
        self.name = name
        self.tree = tree
        self.capabilities = Capabilities(tree.version, tree.features, tree.api)
        self.lib = load(str(build.library))
        c_long.in_dll(self.lib, "bh_slab_budget").value = SLAB_BUDGET

    def create(self, size: int, chunk_size: int) -> InprocessAllocator:
        err = c_int()
        mm = self.lib.bh_init(size, chunk_size, ctypes.byref(err))
        if not mm:
            raise BuddyError(errno_name(err.value))
        return InprocessAllocator(self.lib, mm, chunk_size)

    def live_objects(self) -> int:
        """Blocks the allocator's slab cache holds right now (all allocators together)."""
        return self.lib.bh_live()

    def close(self) -> None:
        pass  # a loaded library stays for the life of the process


class InprocessAllocator:
    def __init__(self, lib: ctypes.CDLL, mm: int, chunk_size: int) -> None:
        self._lib = lib
        self._mm = mm
        self._chunk = chunk_size
        self._lists: dict[int, int] = {}
        self._handles = itertools.count()  # next() is atomic under the GIL
        self.size = lib.bh_size(mm)
        self.chunk_size = chunk_size

    @property
    def avail(self) -> int:
        return self._lib.bh_avail(self._mm)

    @property
    def clear_avail(self) -> int:
        return self._lib.bh_clear_avail(self._mm)

    def alloc(self, start: int, end: int, size: int, min_block_size: int,
              flags: int) -> tuple[int, list[Block]]:
        err = c_int()
        lst = self._lib.bh_alloc(self._mm, start, end, size, min_block_size, flags,
                                 ctypes.byref(err))
        # Handle numbers and the dict are safe under the GIL even without the binding's lock,
        # so any corruption an unlocked run shows is the C's.
        handle = next(self._handles)
        if not lst:
            raise BuddyError(errno_name(err.value))
        self._lists[handle] = lst
        return handle, self._blocks(lst)

    def _blocks(self, lst: int) -> list[Block]:
        cap = 64
        while True:
            offs = (c_uint64 * cap)()
            ords = (c_uint * cap)()
            n = self._lib.bh_blocks(lst, offs, ords, cap)
            if n <= cap:
                return [Block(offs[i], ords[i], self._chunk << ords[i]) for i in range(n)]
            cap = n

    def free(self, handle: int, cleared: bool = False) -> None:
        lst = self._lists.pop(handle, None)
        if lst:
            self._lib.bh_free(self._mm, lst, CLEARED if cleared else 0)

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        lst = self._lists[handle]
        s = None if start is None else ctypes.byref(c_uint64(start))
        status = self._lib.bh_trim(self._mm, lst, new_size, s)
        if status:
            raise BuddyError(errno_name(status))
        return self._blocks(lst)

    def reset_clear(self, is_clear: bool) -> None:
        status = self._lib.bh_reset_clear(self._mm, int(is_clear))
        if status:
            raise BuddyError(errno_name(status))

    def warnings(self) -> list[str]:
        n = self._lib.bh_warn_pending()
        out = [self._lib.bh_warn_text(i).decode(errors="replace") for i in range(n)]
        if n:
            self._lib.bh_warn_clear()
        return out

    def fini(self) -> list[str]:
        if self._mm:
            self._lib.bh_fini(self._mm)
            self._mm = 0
        return self.warnings()
