"""Miniatures whose allocator returns results no correct gpu_buddy can return.

Where ``tests/miniatures.py`` holds allocators that are wrong but well-formed,
these break the core contract itself: blocks that are misaligned, overlap,
lie outside the space or carry the wrong order, an ``avail`` below zero or
beyond the space, a handle the allocator never issued, an exception of a type
the contract does not allow.  Each must be a reported ``fail`` (never a
traceback) in ``run``, ``diff``, ``fuzz`` and pytest.
"""

from __future__ import annotations

import pytest

from harness.backends.base import Block
from tests.miniatures import MiniatureBackend, Wrapped, register_in_pytest


class Misaligned(Wrapped):
    """The first block of each allocation is one byte past where it belongs."""

    def alloc(self, start, end, size, min_block_size, flags):
        h, blocks = self.inner.alloc(start, end, size, min_block_size, flags)
        b = blocks[0]
        return h, [Block(b.offset + 1, b.order, b.size), *blocks[1:]]


class Overlapping(Wrapped):
    """Each allocation reports its first block twice."""

    def alloc(self, start, end, size, min_block_size, flags):
        h, blocks = self.inner.alloc(start, end, size, min_block_size, flags)
        return h, [*blocks, blocks[0]]


class OutsideTheSpace(Wrapped):
    """Each allocation also reports a chunk just past the end of the space."""

    def alloc(self, start, end, size, min_block_size, flags):
        h, blocks = self.inner.alloc(start, end, size, min_block_size, flags)
        return h, [*blocks, Block(self.inner.size, 0, self.inner.chunk_size)]


class WrongOrder(Wrapped):
    """Blocks report one order more than their size has."""

    def alloc(self, start, end, size, min_block_size, flags):
        h, blocks = self.inner.alloc(start, end, size, min_block_size, flags)
        return h, [Block(b.offset, b.order + 1, b.size) for b in blocks]


class NegativeAvail(Wrapped):
    """``avail`` is negative once anything is allocated."""

    @property
    def avail(self) -> int:
        a = self.inner.avail
        return a if a == self.inner.size else -a


class HugeAvail(Wrapped):
    """``avail`` is beyond u64 once anything is allocated."""

    @property
    def avail(self) -> int:
        a = self.inner.avail
        return a if a == self.inner.size else a + (1 << 70)


class ForeignHandle(Wrapped):
    """Allocations return a handle the allocator never issued: freeing it fails."""

    def alloc(self, start, end, size, min_block_size, flags):
        h, blocks = self.inner.alloc(start, end, size, min_block_size, flags)
        return h + 1000, blocks


class UnexpectedException(Wrapped):
    """Freeing raises an exception type outside the contract (not BuddyError/BackendCrash)."""

    def free(self, handle, cleared=False):
        raise RuntimeError("free exploded")


MALFORMED: dict[str, type[Wrapped]] = {
    "bad-misaligned": Misaligned,
    "bad-overlapping": Overlapping,
    "bad-outside": OutsideTheSpace,
    "bad-order": WrongOrder,
    "bad-negative-avail": NegativeAvail,
    "bad-huge-avail": HugeAvail,
    "bad-foreign-handle": ForeignHandle,
    "bad-exception": UnexpectedException,
}


def backend(name: str) -> MiniatureBackend:
    return MiniatureBackend(name, MALFORMED[name])


def pytest_configure(config: pytest.Config) -> None:
    """As a plugin (``-p tests.malformed_results``): the names work with --backend/--diff."""
    register_in_pytest(config, MALFORMED)
