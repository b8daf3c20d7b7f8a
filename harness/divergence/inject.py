"""Differential fuzzing with one allocation failure injected per program.

A program gets a *plan*: before op ``i``, arm a failure of the ``nth`` memory
allocation (:mod:`harness.engine.faults`).  The first backend that can inject
runs the program with it, one op at a time; the other runs it plainly, and
what it is compared on depends on what the injection did:

- it never fired: the programs were the same, compared as always;
- it fired and op ``i`` failed: the failed op must have given everything back,
  so the other side runs op ``i`` as a request that fails without touching
  anything (an alloc or trim of size 0, EINVAL), and the two are compared on
  the counters at ``i`` and on everything else as always;
- it fired and op ``i`` still succeeded (the search retried and recovered):
  the sides part ways there; ops before ``i`` are compared, and after it the
  injecting side must only not crash and not leak.

Which errno an injected failure gives is not compared: the corpus states it
(``extra.fail-alloc-split-is-enomem``) and the expectation files record it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.backends.base import BackendCrash, BuddyError, CoreBackend, Op
from harness.backends.batch import run_one_by_one
from harness.divergence.fuzz import (
    Divergence,
    Finding,
    Program,
    Side,
    Stats,
    compare,
    program_at,
    run_side,
)
from harness.engine.faults import injector_of


@dataclass
class InjectedProgram(Program):
    at: int = 0  # the op before which the failure is armed
    nth: int = 1  # which allocation from there fails

    def describe(self) -> str:
        return (super().describe() + f"\n  (the {self.nth}. memory allocation of op "
                f"{self.at} fails)")


@dataclass
class InjectedSide(Side):
    fired: bool = False


def injected_at(seed: int, i: int, features: frozenset[str]) -> InjectedProgram:
    """Program ``i`` of ``seed`` with its failure plan, drawn from the seed alone."""
    prog = program_at(seed, i, features)
    rng = random.Random(f"{seed}/{i}/inject")
    at = rng.randrange(len(prog.ops))
    # Small numbers hit the first splits; larger ones reach deep splits and roll-backs.
    nth = rng.randint(1, 4) if rng.random() < 0.5 else rng.randint(1, 64)
    return InjectedProgram(prog.size, prog.chunk, prog.ops, at=at, nth=nth)


def search_injected(a: CoreBackend, b: CoreBackend, names: tuple[str, str], seed: int,
                    features: frozenset[str], examples: int | None, seconds: float | None,
                    stats: Stats, progress: Callable[[Stats], None] | None
                    ) -> tuple[Finding | None, Stats]:
    """Injected programs 0, 1, ... of ``seed`` until one diverges or the budget is spent."""
    i = 0
    while (examples is None or i < examples) and (seconds is None or stats.elapsed < seconds):
        prog = injected_at(seed, i, features)
        i += 1
        t0 = time.monotonic()
        sa, sb = run_pair(a, b, names, prog)
        d = compare_injected(prog, sa, sb)
        stats.examples += 1
        stats.ops += len(sa.results)
        if progress is not None:
            progress(stats)
        if d is not None:
            return Finding(prog, d, (sa, sb), time.monotonic() - t0), stats
    return None, stats


def can_inject(a: CoreBackend, b: CoreBackend) -> bool:
    return injector_of(a) is not None or injector_of(b) is not None


def run_pair(a: CoreBackend, b: CoreBackend, names: tuple[str, str],
             prog: InjectedProgram) -> tuple[Side, Side]:
    """Both sides of ``prog``: the first that can inject does, the other follows it."""
    if injector_of(a) is not None:
        sa = run_injected(a, names[0], prog)
        return sa, run_side(b, names[1], _follow(prog, sa))
    sb = run_injected(b, names[1], prog)
    return run_side(a, names[0], _follow(prog, sb)), sb


def run_injected(backend: CoreBackend, name: str, prog: InjectedProgram) -> InjectedSide:
    inj = injector_of(backend)
    assert inj is not None
    side = InjectedSide(name)
    fired: list[int] = []

    def before(i: int) -> None:
        if i == prog.at:
            inj.arm_failure(prog.nth)
        elif i == prog.at + 1:
            fired.append(inj.failures_fired()[0])

    try:
        mm = backend.create(prog.size, prog.chunk)
        run_one_by_one(mm, prog.with_teardown(), side.results, before)
        if not fired:
            fired.append(inj.failures_fired()[0])
        side.warned = mm.warnings() + mm.fini()
    except BuddyError as e:  # only creation raises it: each op catches its own
        side.create_errno = e.errno
    except BackendCrash as e:
        side.crash = e
    # A worker that died inside op `at` cannot say; a failure armed there is the suspect.
    side.fired = bool(fired[0]) if fired else side.crash is not None and \
        len(side.results) >= prog.at
    return side


def _recovered(prog: InjectedProgram, side: Side) -> bool:
    return isinstance(side, InjectedSide) and side.fired and prog.at < len(side.results) \
        and side.results[prog.at].ok


def _follow(prog: InjectedProgram, side: Side) -> Program:
    """The program the other side runs, given what the injection did on ``side``."""
    if not (isinstance(side, InjectedSide) and side.fired) or prog.at >= len(side.results):
        return prog
    ops = list(prog.ops)
    if _recovered(prog, side):
        return Program(prog.size, prog.chunk, ops[: prog.at])
    op = ops[prog.at]
    if op.verb in ("alloc", "trim"):  # size 0: EINVAL before anything is touched
        ops[prog.at] = Op(op.verb, dict(op.args, size=0))
    return Program(prog.size, prog.chunk, ops)


def compare_injected(prog: InjectedProgram, sa: Side, sb: Side) -> Divergence | None:
    inj, other = (sa, sb) if isinstance(sa, InjectedSide) else (sb, sa)
    assert isinstance(inj, InjectedSide)
    if not inj.fired:
        return compare(sa, sb)
    if inj.crash is not None:
        n = len(inj.results)
        return Divergence(n, "crash after an injected allocation failure",
                          _pair(inj is sa, inj.crash.describe(), "no crash"))
    if _recovered(prog, inj):
        n = prog.at
        cut = [replace(s, results=s.results[:n], warned=[], crash=None) for s in (sa, sb)]
        if (d := compare(cut[0], cut[1])) is not None:
            return d
        if inj.warned:
            return Divergence(len(inj.results), "warnings at teardown",
                              _pair(inj is sa, "; ".join(inj.warned), "none"))
        return None
    # The failed op: only the counters must agree (what each said is its own business).
    i = prog.at
    if i < len(inj.results) and i < len(other.results):
        mine, theirs = inj.results[i], other.results[i]
        other.results[i] = replace(theirs, ok=mine.ok, errno=mine.errno, blocks=mine.blocks)
    return compare(sa, sb)


def _pair(first: bool, mine: str, theirs: str) -> tuple[str, str]:
    return (mine, theirs) if first else (theirs, mine)
