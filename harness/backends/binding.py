"""The Rust binding's contract (``rust/kernel/gpu/buddy.rs``, Linux 7.2) over any core backend.

What the binding adds to the C, and what this layer therefore does itself:

* ``chunk_size`` and ``min_block_size`` are ``Alignment`` values: a power of
  two or nothing.  A value that is not one cannot be constructed in Rust; here
  it is refused with EINVAL before the C is called.
* ``GpuBuddyAllocMode``: ``Simple`` (flags 0, start = end = 0), ``TopDown``
  (TOPDOWN, 0, 0) or ``Range(start..end)`` (RANGE, start and end passed raw).
  An empty or inverted range is EINVAL before the C is called.
* Modifier flags ``contiguous``, ``clear``, ``trim_disable`` map to their C bits.
* Offsets reported by an allocation include ``base_offset``; ``size()``
  returns the size the user asked for (not the C's rounded one).
* Dropping an allocation frees its list with flags 0 (the blocks become dirty).
* An allocation holds a reference to the allocator (an ``Arc``): dropping the
  ``GpuBuddy`` while allocations live defers ``gpu_buddy_fini`` until the last
  of them is dropped.
* ``AllocatedBlock::offset()`` adds ``base_offset`` with overflow checks on (as
  the kernel builds Rust with ``CONFIG_RUST_OVERFLOW_CHECKS``): a block whose
  absolute offset passes ``u64::MAX`` panics (a finding, ``specs/FINDINGS.md``).
* One mutex serializes every operation on the allocator, as the Rust
  ``Mutex<()>`` does; ``locking=False`` exists only to prove the thread test
  can detect its absence.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    TRIM_DISABLE,
    Allocator,
    BackendCrash,
    Block,
    BuddyError,
    CoreBackend,
)

U64_MAX = (1 << 64) - 1
MODES = {"simple": 0, "topdown": TOPDOWN, "range": RANGE}
MODIFIERS = {"contiguous": CONTIGUOUS, "clear": CLEAR, "trim_disable": TRIM_DISABLE}


def _alignment(value: int, what: str) -> int:
    if value <= 0 or value & (value - 1) or value > U64_MAX:
        raise BuddyError("EINVAL", f"{what} {value:#x} is not a valid Alignment")
    return value


def _u64(value: int, what: str) -> int:
    if not 0 <= value <= U64_MAX:
        raise OverflowError(f"{what} {value} does not fit in a u64")
    return value


class GpuBuddy:
    """``GpuBuddy::new(GpuBuddyParams { base_offset, size, chunk_size })``."""

    def __init__(self, backend: CoreBackend, base_offset: int, size: int, chunk_size: int,
                 *, locking: bool = True) -> None:
        self._base = _u64(base_offset, "base_offset")
        self._size = _u64(size, "size")
        self._chunk = _alignment(chunk_size, "chunk_size")
        self.core: Allocator = backend.create(size, chunk_size)
        self._lock: Any = threading.Lock() if locking else contextlib.nullcontext()
        self._live = 0  # allocations alive: each holds the allocator (the Rust Arc)
        self._dropped = False
        # What gpu_buddy_fini warned, once it ran (at close, or at the last drop after it).
        self.fini_warnings: list[str] | None = None

    def base_offset(self) -> int:
        return self._base

    def size(self) -> int:
        return self._size

    def chunk_size(self) -> int:
        return self._chunk

    def avail(self) -> int:
        with self._lock:
            return self.core.avail

    # What the harness reads beside the Rust API, for its invariants.
    def mm_size(self) -> int:
        return self.core.size

    def clear_avail(self) -> int:
        return self.core.clear_avail

    def warnings(self) -> list[str]:
        return self.core.warnings()

    def alloc_blocks(self, mode: tuple, size: int, min_block_size: int,
                     flags: set[str] | frozenset[str] = frozenset()) -> AllocatedBlocks:
        """``mode`` is ``("simple",)``, ``("topdown",)`` or ``("range", start, end)``."""
        kind = mode[0]
        start, end = (_u64(mode[1], "start"), _u64(mode[2], "end")) if kind == "range" else (0, 0)
        bits = MODES[kind]
        for f in flags:
            bits |= MODIFIERS[f]
        _u64(size, "size")
        mbs = _alignment(min_block_size, "min_block_size")
        if kind == "range" and start >= end:
            raise BuddyError("EINVAL", f"empty range {start:#x}..{end:#x}")
        with self._lock:
            handle, blocks = self.core.alloc(start, end, size, mbs, bits)
            self._live += 1
        return AllocatedBlocks(self, handle, blocks)

    def _free(self, handle: int) -> None:
        with self._lock:
            self.core.free(handle, False)
            self._live -= 1
            if self._dropped and not self._live:
                self.fini_warnings = self.core.fini()

    def close(self) -> list[str]:
        """Drop the ``GpuBuddy``; returns what ``gpu_buddy_fini`` warned if it ran now
        (with allocations still alive it runs when the last of them is dropped)."""
        with self._lock:
            if self._dropped:
                return []
            self._dropped = True
            if self._live:
                return []
            self.fini_warnings = self.core.fini()
            return self.fini_warnings

    def abandon(self) -> None:
        """What the end of the process does after a panic: the C allocator goes now, with
        whatever allocations still hold it."""
        with self._lock:
            self._dropped = True
            if self.fini_warnings is None:
                self.fini_warnings = self.core.fini()


class AllocatedBlocks:
    """The blocks of one allocation; freed by :meth:`drop` (Rust's ``Drop``)."""

    def __init__(self, owner: GpuBuddy, handle: int, blocks: list[Block]) -> None:
        self._owner = owner
        self._handle: int | None = handle
        base = owner.base_offset()
        # A block the C placed inside its space but past u64::MAX once based panics, as the
        # real binding does; one outside the space is a malformed core result, passed on for
        # the engine's invariants to name.
        size = owner.core.size
        if any(0 <= b.offset and b.offset + b.size <= size and base + b.offset > U64_MAX
               for b in blocks if isinstance(b.offset, int) and isinstance(b.size, int)):
            raise BackendCrash("panicked at rust/kernel/gpu/buddy.rs: attempt to add with "
                               "overflow (AllocatedBlock::offset: base_offset + offset)",
                               "panic")
        self._blocks = [Block(b.offset + base, b.order, b.size) for b in blocks]

    def blocks(self) -> list[Block]:
        return list(self._blocks)

    def is_empty(self) -> bool:
        return not self._blocks

    def drop(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._owner._free(handle)
