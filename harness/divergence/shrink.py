"""Shrinking a divergent program: fewer operations, then plainer values, while it diverges.

Deterministic (no randomness, a fixed order of attempts), so a seed gives the same
shrunk case everywhere.  Removing an allocation renumbers the handles after it; the
operations on the removed one (frees and trims, drops) go with it.  The layer says which
plainer arguments of an operation to try.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from harness.backends.base import Op
from harness.divergence.program import Program


def without(prog: Program, drop: set[int]) -> Program:
    """``prog`` without the ops at the indices ``drop`` (handles renumbered)."""
    gone: set[int] = set()  # alloc numbers removed
    n = 0
    for i, op in enumerate(prog.ops):
        if op.verb == "alloc":
            if i in drop:
                gone.add(n)
            n += 1
    ops = []
    for i, op in enumerate(prog.ops):
        if i in drop:
            continue
        if "handle" in op.args:  # an operation on an earlier allocation
            h = op.args["handle"]
            if h in gone:
                continue
            op = Op(op.verb, op.args | {"handle": h - sum(g < h for g in gone)})
        ops.append(op)
    return replace(prog, ops=ops)


# An op and the chunk size -> simpler variants of its arguments, plainest first.
Plainer = Callable[[Op, int], list[dict]]


def shrink(prog: Program, diverges: Callable[[Program], bool], *, plainer: Plainer,
           budget: int = 2000) -> Program:
    """The smallest program this finds that still ``diverges`` (``prog`` does)."""
    tries = [0]

    def ok(p: Program) -> bool:
        tries[0] += 1
        return diverges(p)

    progress = True
    while progress and tries[0] < budget:
        progress = False
        # Delete runs of ops, halving the run length down to single ops.
        width = max(len(prog.ops) // 2, 1)
        while width >= 1 and tries[0] < budget:
            i = 0
            while i < len(prog.ops) and tries[0] < budget:
                cand = without(prog, set(range(i, min(i + width, len(prog.ops)))))
                if cand.ops and ok(cand):
                    prog, progress = cand, True
                else:
                    i += width
            width //= 2
        # Plainer arguments, op by op.
        for i in range(len(prog.ops)):
            for args in plainer(prog.ops[i], prog.chunk):
                if tries[0] >= budget:
                    break
                ops = list(prog.ops)
                ops[i] = Op(ops[i].verb, args)
                cand = replace(prog, ops=ops)
                if ok(cand):
                    prog, progress = cand, True
                    break
        # A smaller space, in whole chunks.
        pages = prog.size // prog.chunk if prog.chunk > 0 else 0  # (a refused chunk: none)
        for p in (1, 2, 4, 8, 16, 64, pages // 2):
            if 0 < p < pages and tries[0] < budget:
                cand = replace(prog, size=p * prog.chunk)
                if ok(cand):
                    prog, progress = cand, True
                    break
    return prog
