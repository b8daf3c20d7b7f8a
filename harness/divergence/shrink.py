"""Shrinking a divergent program: fewer operations, then plainer values, while it diverges.

Deterministic (no randomness, a fixed order of attempts), so a seed gives the same
shrunk case everywhere.  Removing an allocation renumbers the handles after it;
frees and trims of the removed one go with it.
"""

from __future__ import annotations

from collections.abc import Callable

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
        if op.verb in ("free", "trim"):
            h = op.args["handle"]
            if h in gone:
                continue
            op = Op(op.verb, op.args | {"handle": h - sum(g < h for g in gone)})
        ops.append(op)
    return Program(prog.size, prog.chunk, ops)


def _plainer_args(op: Op, chunk: int) -> list[dict]:
    """Simpler variants of one op's arguments, plainest first."""
    a = op.args
    out: list[dict] = []
    if op.verb == "alloc":
        out += [a | {"flags": a["flags"] & ~bit} for bit in (1, 2, 4, 8, 16, 32, 64)
                if a["flags"] & bit]
        if a["start"] or a["end"]:
            out += [a | {"start": 0, "end": 0}, a | {"end": 0}, a | {"start": 0}]
        if a["min_block_size"] != chunk:
            out.append(a | {"min_block_size": chunk})
        size = a["size"]
        out += [a | {"size": s} for s in (chunk, size // 2 // chunk * chunk)
                if 0 < s < size]
    elif op.verb == "free" and a.get("cleared"):
        out.append(a | {"cleared": False})
    elif op.verb == "trim":
        if "start" in a:
            out.append({k: v for k, v in a.items() if k != "start"})
    elif op.verb == "reset_clear" and a["is_clear"]:
        out.append(a | {"is_clear": False})
    return out


def shrink(prog: Program, diverges: Callable[[Program], bool], *,
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
            for args in _plainer_args(prog.ops[i], prog.chunk):
                if tries[0] >= budget:
                    break
                ops = list(prog.ops)
                ops[i] = Op(ops[i].verb, args)
                cand = Program(prog.size, prog.chunk, ops)
                if ok(cand):
                    prog, progress = cand, True
                    break
        # A smaller space, in whole chunks.
        pages = prog.size // prog.chunk
        for p in (1, 2, 4, 8, 16, 64, pages // 2):
            if 0 < p < pages and tries[0] < budget:
                cand = Program(p * prog.chunk, prog.chunk, prog.ops)
                if ok(cand):
                    prog, progress = cand, True
                    break
    return prog
