"""Differential fuzzing: random programs on two backends in lockstep, on either layer.

Two core backends run core-layer programs (:mod:`harness.divergence.core_layer`); when
one side brings a binding of its own (``rust@``) they run binding-layer programs
(:mod:`harness.divergence.binding_layer`); ``inject`` fails one memory allocation per
core program (:mod:`harness.divergence.inject`).  Each is a layer of one pipeline
(:mod:`harness.divergence.pipeline`): program ``i`` of seed ``S`` is the same on any
machine, so ``--seed S --examples N`` runs the same programs and finds the same first
divergence however the work is split and however fast it runs; a time budget only
decides how far along the sequence a run gets.  Programs run in chunks, which
:mod:`harness.divergence.pool` spreads over processes.  The first divergent program
is shrunk deterministically and becomes a YAML case of its layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.backends.base import CoreBackend
from harness.divergence import pool
from harness.divergence.binding_layer import BINDING
from harness.divergence.core_layer import CORE, common_features, compare, run_side
from harness.divergence.gen import program_at
from harness.divergence.inject import INJECT, can_inject
from harness.divergence.pipeline import (
    Divergence,
    Finding,
    Layer,
    Side,
    Stats,
    run_chunk,
    serial_first,
)
from harness.divergence.pipeline import finding_at as _finding_at
from harness.divergence.program import FLAG_FEATURES, MAX_OPS, Program

LAYERS: dict[str, Layer] = {"core": CORE, "binding": BINDING}


def layer_of(a: CoreBackend, b: CoreBackend, *, inject: bool = False) -> Layer:
    """Binding programs when a side brings its own binding, else core ones (``inject``:
    with one allocation failure each)."""
    if a.own_binding or b.own_binding:
        return BINDING
    return INJECT if inject else CORE


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def finding_at(a: CoreBackend, b: CoreBackend, names: tuple[str, str], prog: Program,
               shrinking: bool = True) -> Finding:
    """The divergent ``prog`` shrunk (unless not ``shrinking``), with both sides of it."""
    return _finding_at(LAYERS[prog.layer], a, b, names, prog, shrinking)


def search(a: CoreBackend, b: CoreBackend, names: tuple[str, str], *, seed: int,
           examples: int | None = None, seconds: float | None = None,
           progress: Callable[[Stats], None] | None = None, jobs: int = 1,
           opener: Callable[[str], CoreBackend] | None = None,
           shrinking: bool = True, inject: bool = False,
           layer: Layer | None = None) -> tuple[Finding | None, Stats]:
    """Run programs 0, 1, ... of ``seed`` on both until one diverges (then shrunk) or the
    budget is spent: ``examples`` programs and/or ``seconds`` of time, whichever ends first.

    The layer is :func:`layer_of` the two unless given (binding programs also run on two
    core backends, each through the model binding).  ``shrinking=False`` reports the divergent
    program as generated.  ``inject`` fails one allocation per core program; those run in
    this process.  With ``jobs`` > 1 and an ``opener`` (a picklable name -> backend),
    chunks of programs run in that many processes, each with backends of its own; the
    result is the same.
    """
    layer = layer or layer_of(a, b, inject=inject)
    features = layer.features(a, b)
    stats = Stats()
    if jobs > 1 and opener is not None and layer.parallel:
        stats.cpu_start = None  # the programs run in other processes
        hit = pool.parallel_first(layer, opener, names, seed, features, examples, seconds,
                                  jobs, stats, progress)
    else:
        hit = serial_first(lambda first, count: run_chunk(layer, a, b, names, seed, features,
                                                          first, count),
                           layer.chunk, examples, seconds, stats, progress)
    if hit is None:
        return None, stats
    return _finding_at(layer, a, b, names, layer.program_at(seed, hit, features),
                       shrinking), stats


__all__ = ["Divergence", "FLAG_FEATURES", "Finding", "LAYERS", "MAX_OPS", "Program", "Side",
           "Stats", "can_inject", "common_features", "compare", "finding_at", "layer_of",
           "new_seed", "program_at", "run_side", "search"]
