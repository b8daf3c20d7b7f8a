"""The fuzzer's pipeline, the same for every layer: generate -> run -> compare -> shrink -> emit.

A :class:`Layer` supplies what differs between the core layer (the C API,
:mod:`harness.divergence.core_layer`) and the binding layer (the Rust API,
:mod:`harness.divergence.binding_layer`): how program ``i`` of a seed is drawn,
how programs run on two backends, what of a result is compared and how it is
shown, which simpler arguments the shrinker tries, and how a divergent program
becomes a YAML case.  Everything else is here, once: the search over chunks of
programs, the comparison of two :class:`Side`\\ s and the finding; the shrinker,
the same for both layers too, is :mod:`harness.divergence.shrink`.

This module imports no layer, no fault injection and no process pool: those
build on it (:mod:`harness.divergence.inject`, :mod:`harness.divergence.pool`),
and :mod:`harness.divergence.fuzz` puts them together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.backends.base import BackendCrash, CoreBackend
from harness.divergence.program import Program
from harness.engine.run import unexpected


@dataclass
class Side:
    """What one backend did with a program: its creation errno, one result per operation
    that ran (the layer's own kind of result), how it crashed, what its teardown warned."""

    backend: str
    results: list = field(default_factory=list)
    create_errno: str | None = None
    crash: BackendCrash | None = None  # crashed at op len(results) (or at fini)
    warned: list[str] = field(default_factory=list)


def guarded(name: str, run: Callable[[Side], Side]) -> Side:
    """``run`` a fresh side; an exception outside the backend contract (a malformed result,
    a backend bug) ends it like a crash of kind ``exception``, as the engine words it."""
    side = Side(name)
    try:
        return run(side)
    except Exception as e:
        side.crash = BackendCrash(unexpected(e), "exception")
        return side


@dataclass
class Divergence:
    index: int  # op index; len(ops with teardown) for fini; -1 for creation
    what: str
    values: tuple[str, str]
    layer: str = "core"

    def describe(self, names: tuple[str, str]) -> str:
        if self.layer == "binding":  # one text per step says it all
            where = "creation" if self.index < 0 else f"operation {self.index + 1}"
            return f"{where}: {names[0]}: {self.values[0]} | {names[1]}: {self.values[1]}"
        where = ("creation" if self.index < 0 else f"op {self.index}")
        return (f"{where}: {self.what} differs: {names[0]}: {self.values[0]} | "
                f"{names[1]}: {self.values[1]}")


class Layer(Protocol):
    """What a layer supplies to the pipeline (instances are picklable: the pool sends them)."""

    name: str  # "core" or "binding": the layer of its programs and emitted cases
    chunk: int  # programs per unit of work (one round trip to a backend that batches)
    parallel: bool  # whether chunks may run in other processes

    def features(self, a: CoreBackend, b: CoreBackend) -> frozenset[str]: ...

    def program_at(self, seed: int, index: int, features: frozenset[str]) -> Program: ...

    def pairs(self, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
              progs: list[Program]) -> Iterator[tuple[Side, Side]]:
        """Both sides of each program, in order (lazily: a search stops at a divergence)."""
        ...

    def compare(self, prog: Program, a: Side, b: Side) -> Divergence | None: ...

    def ops_run(self, prog: Program, side: Side) -> int:
        """The operations a side counts towards the throughput."""
        ...

    def shrink(self, prog: Program, diverges: Callable[[Program], bool]) -> Program: ...

    def case_yaml(self, finding: Finding, names: tuple[str, str], seed: int | None) -> str | None:
        """The finding as a YAML case of this layer (None: it cannot be one)."""
        ...


def compare_sides(a: Side, b: Side, *, layer: str, show: Callable[[Any, Side], dict[str, str]],
                  show_crash: Callable[[BackendCrash], str]) -> Divergence | None:
    """The first difference of two sides: creation, then each operation's result (a value
    the layer's results compare as, shown by ``show``), then how and where they crashed,
    then teardown warnings."""
    if a.create_errno != b.create_errno:
        return Divergence(-1, "creation", (a.create_errno or "ok", b.create_errno or "ok"),
                          layer)
    for i, (ra, rb) in enumerate(zip(a.results, b.results)):
        if ra != rb:
            va, vb = show(ra, a), show(rb, b)
            what = next((k for k in va if va[k] != vb[k]), next(iter(va)))
            return Divergence(i, what, (va[what], vb[what]), layer)
    n = min(len(a.results), len(b.results))
    ca, cb = a.crash, b.crash
    if len(a.results) != len(b.results) or (ca and ca.kind) != (cb and cb.kind):
        return Divergence(n, "crash", (show_crash(ca) if ca else "no crash",
                                       show_crash(cb) if cb else "no crash"), layer)
    if ca or cb:
        return None  # both died the same way at the same op: each words it its own way
    if bool(a.warned) != bool(b.warned):
        return Divergence(n, "warnings at teardown",
                          ("; ".join(a.warned) or "none", "; ".join(b.warned) or "none"), layer)
    return None


# -- search -------------------------------------------------------------------

@dataclass
class Stats:
    examples: int = 0
    ops: int = 0
    started: float = field(default_factory=time.monotonic)
    # CPU time of this process, when the programs ran here (one process): the rate per
    # CPU-second is what a run gets on a core of its own, however loaded the machine is.
    cpu_start: float | None = field(default_factory=time.process_time)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        cpu = ("" if self.cpu_start is None else
               f"; {self.ops / max(time.process_time() - self.cpu_start, 1e-9):,.0f} "
               "per CPU-second of this process")
        return (f"fuzz: {self.examples} examples, {self.ops} operations, "
                f"{self.rate():,.0f} ops/s, {self.elapsed:.1f}s{cpu}")


@dataclass
class Finding:
    program: Program
    divergence: Divergence
    sides: tuple[Side, Side]
    shrink_seconds: float = 0.0


def run_chunk(layer: Layer, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
              seed: int, features: frozenset[str], first: int,
              count: int) -> tuple[int, int, int | None]:
    """Programs ``first`` .. ``first + count - 1``: (programs run, operations, first divergent)."""
    progs = [layer.program_at(seed, i, features) for i in range(first, first + count)]
    ops = 0
    for k, (prog, (sa, sb)) in enumerate(zip(progs, layer.pairs(a, b, names, progs))):
        ops += layer.ops_run(prog, sa)
        if layer.compare(prog, sa, sb) is not None:
            return k + 1, ops, first + k
    return count, ops, None


def serial_first(run: Callable[[int, int], tuple[int, int, int | None]], chunk: int,
                 examples: int | None, seconds: float | None, stats: Stats,
                 progress: Callable[[Stats], None] | None) -> int | None:
    """The search in this process: ``run(first, count)`` over consecutive chunks until one
    has a divergent program (its index is returned) or the budget ends."""
    first = 0
    while (examples is None or first < examples) and (
            seconds is None or stats.elapsed < seconds):
        count = chunk if examples is None else min(chunk, examples - first)
        done, ops, hit = run(first, count)
        stats.examples += done
        stats.ops += ops
        first += done
        if progress is not None:
            progress(stats)
        if hit is not None:
            return hit
    return None


def finding_at(layer: Layer, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
               prog: Program, shrinking: bool = True) -> Finding:
    """Shrink the divergent ``prog`` and describe the smallest program found."""
    t0 = time.monotonic()

    def run(p: Program) -> tuple[Side, Side]:
        return next(layer.pairs(a, b, names, [p]))

    def diverges(p: Program) -> bool:
        return layer.compare(p, *run(p)) is not None

    small = layer.shrink(prog, diverges) if shrinking else prog
    sa, sb = run(small)
    d = layer.compare(small, sa, sb)
    assert d is not None  # the backends are deterministic: what diverged diverges again
    return Finding(small, d, (sa, sb), time.monotonic() - t0)
