"""Run a whole operation sequence on one allocator (the fuzzer's unit of work).

A backend may offer ``Allocator.run_batch`` to do it in one round trip (the
native worker does); otherwise this generic loop over the one-op API is used.
Handles: the n-th alloc of the batch is handle n, failed ones included, so
the numbering does not depend on what succeeded.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.backends.base import Allocator, BuddyError, Op, OpResult


def run_batch(mm: Allocator, ops: list[Op]) -> list[OpResult]:
    own = getattr(mm, "run_batch", None)
    if own is not None:
        return own(ops)
    out: list[OpResult] = []
    run_one_by_one(mm, ops, out)
    return out


def run_one_by_one(mm: Allocator, ops: list[Op], out: list[OpResult],
                   before: Callable[[int], None] | None = None) -> None:
    """The one-op loop, appending to ``out`` as it goes so a crash keeps what ran.

    ``before(i)`` is called before op ``i`` (fault injection arms there).
    """
    handles: list[int | None] = []
    for i, op in enumerate(ops):
        if before is not None:
            before(i)
        r = OpResult(ok=True)
        a = op.args
        try:
            if op.verb == "alloc":
                handles.append(None)
                h, r.blocks = mm.alloc(a["start"], a["end"], a["size"], a["min_block_size"],
                                       a["flags"])
                handles[-1] = h
            elif op.verb == "free":
                h = handle_at(handles, a["handle"])
                if h is not None:
                    mm.free(h, a.get("cleared", False))
                    handles[a["handle"]] = None
            elif op.verb == "trim":
                h = handle_at(handles, a["handle"])
                if h is not None:
                    r.blocks = mm.trim(h, a["size"], a.get("start"))
            elif op.verb == "reset_clear":
                mm.reset_clear(a["is_clear"])
            elif op.verb != "counters":
                raise ValueError(f"unknown batch verb {op.verb}")
        except BuddyError as e:
            r.ok, r.errno = False, e.errno
        r.avail, r.clear_avail = mm.avail, mm.clear_avail
        out.append(r)


def handle_at(handles: list[int | None], index: int) -> int | None:
    """The handle of the batch's ``index``-th alloc, or None (none such, or freed)."""
    return handles[index] if 0 <= index < len(handles) else None
