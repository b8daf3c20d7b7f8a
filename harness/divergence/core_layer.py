"""The fuzzer's core layer: programs of C API calls on two core backends.

A program is an allocator shape (size, chunk size) and a list of batch
:class:`~harness.backends.base.Op` drawn by :mod:`harness.divergence.gen`; it runs on
each backend through :func:`~harness.backends.batch.run_batch` (one round trip on
backends that batch), followed by freeing everything and ``fini``.  Per operation the
two sides must agree on success or errno, the blocks in list order, ``avail`` and
``clear_avail``; at the end on whether the allocator warned.  A crash on one side only
is a divergence too.  A divergent program becomes a core-layer case
(:mod:`harness.divergence.emit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from harness.backends.base import BackendCrash, BuddyError, CoreBackend, Op, OpResult
from harness.backends.batch import run_batch, run_one_by_one
from harness.divergence import emit
from harness.divergence.gen import program_at
from harness.divergence.pipeline import Divergence, Finding, Side, compare_sides, guarded
from harness.divergence.program import GPU_BUDDY_ONLY, Program
from harness.divergence.shrink import shrink
from harness.engine.checks import fmt, fmt_blocks
from harness.engine.run import unexpected


def run_side(backend: CoreBackend, name: str, prog: Program) -> Side:
    """Run ``prog`` on one backend (a side that ends in an exception outside the backend
    contract ends like a crash of kind ``exception``)."""
    return guarded(name, lambda side: _run_side(backend, side, prog))


def _run_side(backend: CoreBackend, side: Side, prog: Program) -> Side:
    ops = prog.with_teardown()
    try:
        mm = backend.create(prog.size, prog.chunk)
    except BuddyError as e:
        side.create_errno = e.errno
        return side
    except BackendCrash as e:
        side.crash = e
        return side
    try:
        side.results = run_batch(mm, ops)
    except Exception:  # a crash, or an exception outside the contract
        # Find the op that did it: run again one op at a time on a fresh allocator.
        side.results = []
        try:
            mm = backend.create(prog.size, prog.chunk)
            run_one_by_one(mm, ops, side.results)
        except BackendCrash as e:
            side.crash = e
            return side
        except Exception as e:
            side.crash = BackendCrash(unexpected(e), "exception")
            return side
    try:
        side.warned = mm.warnings() + mm.fini()
    except BackendCrash as e:
        side.crash = e
    return side


def _show(r: OpResult, _side: Side) -> dict[str, str]:
    return {"outcome": "ok" if r.ok else f"error {r.errno}", "blocks": fmt_blocks(r.blocks),
            "avail": fmt(r.avail), "clear_avail": fmt(r.clear_avail)}


def compare(a: Side, b: Side) -> Divergence | None:
    return compare_sides(a, b, layer="core", show=_show, show_crash=BackendCrash.describe)


def common_features(a: CoreBackend, b: CoreBackend) -> frozenset[str]:
    def has(x: CoreBackend) -> frozenset[str]:
        c = x.capabilities
        return frozenset(c.features) | (GPU_BUDDY_ONLY if c.api == "gpu_buddy" else set())

    return has(a) & has(b)


def plainer(op: Op, chunk: int) -> list[dict]:
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


class CoreLayer:
    name = "core"
    chunk = 64  # programs per unit of work handed to a process (one scheduling step)
    parallel = True
    features = staticmethod(common_features)
    program_at = staticmethod(program_at)
    shrink = partial(shrink, plainer=plainer)

    def pairs(self, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
              progs: list[Program]) -> Iterator[tuple[Side, Side]]:
        for prog in progs:
            yield run_side(a, names[0], prog), run_side(b, names[1], prog)

    def compare(self, prog: Program, a: Side, b: Side) -> Divergence | None:
        return compare(a, b)

    def ops_run(self, prog: Program, side: Side) -> int:
        return len(side.results)

    def case_yaml(self, finding: Finding, names: tuple[str, str], seed: int | None) -> str:
        return emit.to_yaml(finding, names, seed=seed)


CORE = CoreLayer()
