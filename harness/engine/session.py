"""One allocator under test, seen through the layer a case speaks to.

The engine talks to a :class:`Session`; the core session calls the C-shaped
backend directly, the binding session goes through the Rust contract
(:mod:`harness.backends.binding`).  Both report raw offsets for the invariants
and layer offsets for expectations.
"""

from __future__ import annotations

from typing import Any

from harness.backends.base import CLEARED, FLAG_BITS, Allocator, Block, CoreBackend
from harness.backends.binding import GpuBuddy


class Session:
    base: int = 0  # added to raw offsets by the layer's API
    mm_size: int  # the C allocator's (rounded) size, for the invariants

    def alloc(self, *, mode: str | None, start: int, end: int, size: int, min_block_size: int,
              flags: tuple[str, ...]) -> tuple[Any, list[Block]]:
        raise NotImplementedError

    def free(self, token: Any, cleared: bool) -> None:
        raise NotImplementedError

    def trim(self, token: Any, size: int, start: int | None) -> list[Block]:
        raise NotImplementedError

    def reset_clear(self, is_clear: bool) -> None:
        raise NotImplementedError

    def counters(self) -> tuple[int, int]:
        raise NotImplementedError

    def size(self) -> int:
        """The size the layer's API reports (``check: size``)."""
        raise NotImplementedError

    def chunk_size(self) -> int:
        raise NotImplementedError

    def base_offset(self) -> int:
        raise NotImplementedError

    def warnings(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> list[str]:
        raise NotImplementedError

    def abandon(self) -> None:
        """Release the allocator after a case ended abnormally (its warnings go unread)."""
        self.close()


class CoreSession(Session):
    def __init__(self, backend: CoreBackend, size: int, chunk_size: int) -> None:
        self.mm: Allocator = backend.create(size, chunk_size)
        self.mm_size = self.mm.size

    def alloc(self, *, mode, start, end, size, min_block_size, flags):
        bits = 0
        for f in flags:
            bits |= FLAG_BITS[f]
        return self.mm.alloc(start, end, size, min_block_size, bits)

    def free(self, token, cleared):
        self.mm.free(token, cleared)

    def trim(self, token, size, start):
        return self.mm.trim(token, size, start)

    def reset_clear(self, is_clear):
        self.mm.reset_clear(is_clear)

    def counters(self):
        return self.mm.avail, self.mm.clear_avail

    def size(self):
        return self.mm.size  # what the C stores: rounded down to a chunk multiple

    def chunk_size(self):
        return self.mm.chunk_size

    def base_offset(self):
        return 0

    def warnings(self):
        return self.mm.warnings()

    def close(self):
        return self.mm.fini()


def open_binding(backend: CoreBackend, base_offset: int, size: int, chunk_size: int) -> Any:
    """``GpuBuddy::new``: the backend's own binding, else the model binding over its core."""
    own = backend.create_binding(base_offset, size, chunk_size)
    return own if own is not None else GpuBuddy(backend, base_offset, size, chunk_size)


class BindingSession(Session):
    def __init__(self, backend: CoreBackend, base_offset: int, size: int, chunk_size: int) -> None:
        self.gb = open_binding(backend, base_offset, size, chunk_size)
        # The core backend counts the C's block structures after the model's drop (the real
        # binding's own close() counts them in its worker).
        self._leaks = None if backend.own_binding else backend.teardown_leaks
        self.base = base_offset
        self.mm_size = self.gb.mm_size()

    def alloc(self, *, mode, start, end, size, min_block_size, flags):
        m: tuple = ("range", start, end) if mode == "range" else (mode or "simple",)
        blocks = self.gb.alloc_blocks(m, size, min_block_size, set(flags))
        return blocks, blocks.blocks()

    def free(self, token, cleared):
        token.drop()

    def trim(self, token, size, start):  # core-only verb; the loader refuses it here
        raise AssertionError("trim on the binding layer")

    def reset_clear(self, is_clear):  # core-only verb
        raise AssertionError("reset_clear on the binding layer")

    def counters(self):
        return self.gb.avail(), self.gb.clear_avail()

    def size(self):
        return self.gb.size()  # GpuBuddy::size(): the size the user asked for

    def chunk_size(self):
        return self.gb.chunk_size()

    def base_offset(self):
        return self.gb.base_offset()

    def warnings(self):
        return self.gb.warnings()

    def abandon(self):
        # The model binding defers fini while allocations hold it; an aborted case's never go.
        drop = getattr(self.gb, "abandon", None)
        if drop is not None:
            drop()
        else:
            self.gb.close()

    def close(self):
        warned = self.gb.close()
        return warned + (self._leaks(self.gb.core) if self._leaks is not None else [])


__all__ = ["Session", "CoreSession", "BindingSession", "CLEARED", "open_binding"]
