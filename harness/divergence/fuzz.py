"""Differential fuzzing: random operation sequences on two backends in lockstep.

A *program* is an allocator shape (size, chunk size) and a list of batch
:class:`~harness.backends.base.Op`; it runs on each backend through
:func:`~harness.backends.batch.run_batch` (one round trip on backends that
batch), followed by freeing everything and ``fini``.  Per operation the two
sides must agree on success or errno, the blocks in list order, ``avail`` and
``clear_avail``; at the end on whether the allocator warned.  A crash on one
side only is a divergence too.

Programs come from a seeded generator of the harness's own
(:mod:`harness.divergence.gen`): program ``i`` of seed ``S`` is the same on any
machine, so ``--seed S --examples N`` runs the same programs and finds the same
first divergence however the work is split and however fast it runs; a time
budget only decides how far along the sequence a run gets.  Each program's
operations go to a native worker in one batch; programs run in chunks, which
:mod:`harness.divergence.pool` spreads over processes.  The first divergent
program is shrunk deterministically (:mod:`harness.divergence.shrink`) and
becomes a core-layer YAML case (:mod:`harness.divergence.emit`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends.base import (
    BackendCrash,
    Block,
    BuddyError,
    CoreBackend,
    OpResult,
)
from harness.backends.batch import run_batch, run_one_by_one
from harness.divergence.gen import program_at
from harness.divergence.program import FLAG_FEATURES, GPU_BUDDY_ONLY, MAX_OPS, Program
from harness.divergence.shrink import shrink
from harness.engine.checks import fmt, fmt_blocks
from harness.engine.run import unexpected


@dataclass
class Side:
    """What one backend did with a program."""

    backend: str
    results: list[OpResult] = field(default_factory=list)
    create_errno: str | None = None
    crash: BackendCrash | None = None  # crashed at op len(results) (or at fini)
    warned: list[str] = field(default_factory=list)


@dataclass
class Divergence:
    index: int  # op index; len(ops with teardown) for fini; -1 for creation
    what: str
    values: tuple[str, str]

    def describe(self, names: tuple[str, str]) -> str:
        where = ("creation" if self.index < 0 else f"op {self.index}")
        return (f"{where}: {self.what} differs: {names[0]}: {self.values[0]} | "
                f"{names[1]}: {self.values[1]}")


# -- running ------------------------------------------------------------------

def run_side(backend: CoreBackend, name: str, prog: Program) -> Side:
    """Run ``prog`` on one backend; an exception outside the backend contract (a malformed
    result, a backend bug) ends the side like a crash of kind ``exception``."""
    side = Side(name)
    try:
        return _run_side(backend, side, prog)
    except Exception as e:
        side.crash = BackendCrash(unexpected(e), "exception")
        return side


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


def _observable(r: OpResult) -> tuple:
    return (r.ok, r.errno, tuple((b.offset, b.order, b.size) for b in r.blocks), r.avail,
            r.clear_avail)


def _show(r: OpResult) -> dict[str, str]:
    return {"outcome": "ok" if r.ok else f"error {r.errno}", "blocks": fmt_blocks(r.blocks),
            "avail": fmt(r.avail), "clear_avail": fmt(r.clear_avail)}


def compare(a: Side, b: Side) -> Divergence | None:
    if a.create_errno != b.create_errno:
        return Divergence(-1, "creation", (a.create_errno or "ok", b.create_errno or "ok"))
    for i, (ra, rb) in enumerate(zip(a.results, b.results)):
        if _observable(ra) != _observable(rb):
            va, vb = _show(ra), _show(rb)
            what = next(k for k in va if va[k] != vb[k])
            return Divergence(i, what, (va[what], vb[what]))
    n = min(len(a.results), len(b.results))
    ca, cb = a.crash, b.crash
    if len(a.results) != len(b.results) or (ca and ca.kind) != (cb and cb.kind):
        return Divergence(n, "crash", (ca.describe() if ca else "no crash",
                                       cb.describe() if cb else "no crash"))
    if a.crash or b.crash:
        return None  # both died the same way at the same op: each words it its own way
    if bool(a.warned) != bool(b.warned):
        return Divergence(n, "warnings at teardown",
                          ("; ".join(a.warned) or "none", "; ".join(b.warned) or "none"))
    return None


# -- search -------------------------------------------------------------------

@dataclass
class Stats:
    examples: int = 0
    ops: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        return (f"fuzz: {self.examples} examples, {self.ops} operations, "
                f"{self.rate():,.0f} ops/s, {self.elapsed:.1f}s")


@dataclass
class Finding:
    program: Program
    divergence: Divergence
    sides: tuple[Side, Side]
    shrink_seconds: float = 0.0


def common_features(a: CoreBackend, b: CoreBackend) -> frozenset[str]:
    def has(x: CoreBackend) -> frozenset[str]:
        c = x.capabilities
        return frozenset(c.features) | (GPU_BUDDY_ONLY if c.api == "gpu_buddy" else set())

    return has(a) & has(b)


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


CHUNK = 64  # programs per unit of work handed to a process (one scheduling step)


def run_chunk(a: CoreBackend, b: CoreBackend, names: tuple[str, str], seed: int,
              features: frozenset[str], first: int, count: int) -> tuple[int, int, int | None]:
    """Programs ``first`` .. ``first + count - 1``: (programs run, operations, first divergent)."""
    ops = 0
    for i in range(first, first + count):
        prog = program_at(seed, i, features)
        sa, sb = run_side(a, names[0], prog), run_side(b, names[1], prog)
        ops += len(sa.results)
        if compare(sa, sb) is not None:
            return i - first + 1, ops, i
    return count, ops, None


def finding_at(a: CoreBackend, b: CoreBackend, names: tuple[str, str], prog: Program,
               shrinking: bool = True) -> Finding:
    """Shrink the divergent ``prog`` and describe the smallest program found."""
    t0 = time.monotonic()

    def diverges(p: Program) -> bool:
        return compare(run_side(a, names[0], p), run_side(b, names[1], p)) is not None

    small = shrink(prog, diverges) if shrinking else prog
    sa, sb = run_side(a, names[0], small), run_side(b, names[1], small)
    d = compare(sa, sb)
    assert d is not None  # the backends are deterministic: what diverged diverges again
    return Finding(small, d, (sa, sb), time.monotonic() - t0)


def search(a: CoreBackend, b: CoreBackend, names: tuple[str, str], *, seed: int,
           examples: int | None = None, seconds: float | None = None,
           progress: Callable[[Stats], None] | None = None, jobs: int = 1,
           opener: Callable[[str], CoreBackend] | None = None,
           shrinking: bool = True, inject: bool = False) -> tuple[Finding | None, Stats]:
    """Run programs 0, 1, ... of ``seed`` on both until one diverges (then shrunk) or the
    budget is spent: ``examples`` programs and/or ``seconds`` of time, whichever ends first.

    ``shrinking=False`` reports the divergent program as generated. ``inject`` fails one
    allocation per program (:mod:`harness.divergence.inject`); those run in this process and
    a divergent one is reported as generated.
    With ``jobs`` > 1 and an ``opener`` (a picklable name -> backend), chunks of programs
    run in that many processes, each with backends of its own; the result is the same.
    """
    features = common_features(a, b)
    stats = Stats()
    if inject:
        from harness.divergence.inject import search_injected

        return search_injected(a, b, names, seed, features, examples, seconds, stats, progress)
    if jobs > 1 and opener is not None:
        from harness.divergence.pool import parallel_first

        hit = parallel_first(opener, names, seed, features, examples, seconds, jobs, stats,
                             progress)
    else:
        from harness.divergence.pool import serial_first

        hit = serial_first(lambda first, count: run_chunk(a, b, names, seed, features, first,
                                                          count),
                           CHUNK, examples, seconds, stats, progress)
    if hit is None:
        return None, stats
    return finding_at(a, b, names, program_at(seed, hit, features), shrinking), stats


__all__ = ["Block", "Divergence", "FLAG_FEATURES", "Finding", "MAX_OPS", "Program", "Side",
           "Stats", "compare", "program_at", "run_side", "search"]
