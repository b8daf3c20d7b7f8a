"""What the fuzzer runs: a program, an allocator's parameters and operations of one layer.

Both layers write operations as :class:`~harness.backends.base.Op` (a verb and its
arguments); an operation on an earlier allocation names it by ``handle``, the number of
the program's alloc it refers to (failed ones included), so shrinking renumbers them the
same way on either layer.  Core verbs: alloc, free, trim, reset_clear (C flag bits,
raw offsets); binding verbs: alloc (a mode and flag names), drop, empty, info, remake.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.backends.base import CLEAR, CONTIGUOUS, RANGE, TOPDOWN, TRIM_DISABLE, Op
from harness.engine.checks import fmt

# Requests stay below 2^32 pages even once rounded up to a min_block_size (at most 2^6
# chunks): from there fls() truncates the count, which the corpus records for every
# version (review.u64-*: EINVAL, an oom crash, or 6.1's BUG_ON) and which costs the C a
# second of allocating per example.
MAX_PAGES = (1 << 32) - (1 << 6)
# Flag bit -> the feature a backend needs for it (None: always there).
FLAG_FEATURES = {RANGE: None, TOPDOWN: None, CONTIGUOUS: "contiguous", CLEAR: "clear",
                 TRIM_DISABLE: "trim_disable"}
MAX_OPS = 24
# Not spec features but differences of API family the corpus already records, kept out
# of programs rather than rediscovered every run: gpu_buddy rounds a size up to
# min_block_size where drm_buddy (6.1) refuses it, checks an exact range's alignment to
# min_block_size where drm_buddy does not, and alone trims from a chosen start.
ROUND_UP, EXACT_ALIGN, TRIM_START = "size_round_up", "exact_range_align", "trim_start"
GPU_BUDDY_ONLY = frozenset({ROUND_UP, EXACT_ALIGN, TRIM_START})


@dataclass
class Program:
    size: int
    chunk: int
    ops: list[Op]
    layer: str = "core"  # or "binding": the API the ops are written against
    base: int = 0  # the binding's base_offset

    def allocs(self) -> int:
        return sum(op.verb == "alloc" for op in self.ops)

    def with_teardown(self) -> list[Op]:
        """The ops, then a plain free of every allocation (dead handles are no-ops): what a
        core program runs."""
        return self.ops + [Op("free", {"handle": h, "cleared": False})
                           for h in range(self.allocs())]

    def describe(self) -> str:
        base = f"base_offset={fmt(self.base)} " if self.base else ""
        lines = [f"buddy {base}size={fmt(self.size)} chunk={fmt(self.chunk)}"]
        lines += [f"  {i}: {op.verb} {op.args}" for i, op in enumerate(self.ops)]
        return "\n".join(lines)
