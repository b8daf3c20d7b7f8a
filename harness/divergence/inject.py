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

Programs run in this process, one at a time (the failure is armed in this process's
own backend); a divergent one is shrunk and reported as a program, not a case (a case
would need ``fail_alloc`` where the failure fired, written by hand).

Which errno an injected failure gives is not compared: the corpus states it
(``extra.fail-alloc-split-is-enomem``) and the expectation files record it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from harness.backends.base import BackendCrash, BuddyError, CoreBackend, Op
from harness.backends.batch import run_one_by_one
from harness.divergence.core_layer import CoreLayer, compare, run_side
from harness.divergence.gen import program_at
from harness.divergence.pipeline import Divergence, Side
from harness.divergence.program import Program
from harness.divergence.shrink import without
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


def shrink_injected(prog: InjectedProgram, diverges: Callable[[InjectedProgram], bool]
                    ) -> InjectedProgram:
    """Fewer operations while it still diverges: what follows the failing op, then ops
    before it one at a time (those nothing later refers to, so the failing op only moves
    up by one)."""
    def variant(ops: list[Op], at: int) -> InjectedProgram:
        return InjectedProgram(prog.size, prog.chunk, ops, at=at, nth=prog.nth)

    best = prog
    cut = variant(list(prog.ops[: prog.at + 1]), prog.at)
    if len(cut.ops) < len(best.ops) and diverges(cut):
        best = cut
    changed = True
    while changed:
        changed = False
        for i in range(best.at - 1, -1, -1):
            fewer = without(best, {i}).ops
            if len(fewer) != len(best.ops) - 1:
                continue  # its frees or trims would go too: the failing op would move more
            cand = variant(list(fewer), best.at - 1)
            if diverges(cand):
                best, changed = cand, True
                break
    return best


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


class InjectLayer(CoreLayer):
    """The core layer with one allocation failure planned per program, one program at a
    time in this process."""

    chunk = 1
    parallel = False
    program_at = staticmethod(injected_at)
    shrink = staticmethod(shrink_injected)

    def pairs(self, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
              progs: list[Program]) -> Iterator[tuple[Side, Side]]:
        for prog in progs:
            assert isinstance(prog, InjectedProgram)
            yield run_pair(a, b, names, prog)

    def compare(self, prog: Program, a: Side, b: Side) -> Divergence | None:
        assert isinstance(prog, InjectedProgram)
        return compare_injected(prog, a, b)

    def case_yaml(self, finding, names: tuple[str, str], seed: int | None) -> None:
        return None  # a case needs fail_alloc where the failure fired: written by hand


INJECT = InjectLayer()
