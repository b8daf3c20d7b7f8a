"""One free tree: the free blocks of one (clear state, order), ordered by offset.

The C keeps an rb-tree per (clear/dirty, order) keyed by offset, augmented
with the best offset alignment of each subtree.  Here a sorted list of offsets
(``sortedcontainers.SortedList``: O(log n) insert, remove and neighbour
lookup) plus a dict from offset to block gives the same queries: the highest
offset, the highest offset below a given one, and the highest offset that is a
multiple of a given power of two.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from sortedcontainers import SortedList

B = TypeVar("B")


class FreeTree(Generic[B]):
    __slots__ = ("_keys", "_blocks")

    def __init__(self) -> None:
        self._keys: SortedList = SortedList()
        self._blocks: dict[int, B] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def insert(self, offset: int, block: B) -> None:
        self._keys.add(offset)
        self._blocks[offset] = block

    def remove(self, offset: int) -> None:
        del self._blocks[offset]
        self._keys.remove(offset)

    def last(self) -> B | None:
        """The free block with the highest offset (rb_last)."""
        return self._blocks[self._keys[-1]] if self._blocks else None

    def before(self, offset: int) -> B | None:
        """The free block with the highest offset below ``offset`` (rb_prev)."""
        i = self._keys.bisect_left(offset)
        return self._blocks[self._keys[i - 1]] if i else None

    def last_aligned(self, align: int) -> B | None:
        """The highest-offset block whose offset is a multiple of ``align``.

        Equivalent to the C's descent of its alignment-augmented tree.  Each
        probe jumps below the next multiple of ``align``, so the walk visits at
        most one key per aligned window that holds free blocks.
        """
        keys = self._keys
        if not keys:
            return None
        x = keys[-1]
        while True:
            candidate = x - x % align
            if candidate in self._blocks:
                return self._blocks[candidate]
            i = keys.bisect_left(candidate)
            if i == 0:
                return None
            x = keys[i - 1]

    def blocks(self) -> list[B]:
        return [self._blocks[k] for k in self._keys]
