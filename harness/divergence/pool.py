"""Running the fuzzer's chunks of programs (of any layer) in several processes.

Each process opens its own pair of backends by name (a native backend is a worker
process of its own per side) and runs whole chunks; the parent hands out chunks
in program order and, once some chunk diverges, waits only for the chunks before
it, so the divergence reported is the first of the sequence, as a serial run
would find it.  The standard library's process pool does the scheduling.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from harness import procs
from harness.backends.base import CoreBackend
from harness.divergence.pipeline import Layer, Stats, run_chunk

_pair: tuple[CoreBackend, CoreBackend] | None = None


@dataclass(frozen=True)
class Opener:
    """Opens a backend by name the way the command line did (picklable)."""

    kernel_src: str | None = None
    sanitize: bool = False
    timeout: float = 10.0

    def __call__(self, name: str) -> CoreBackend:
        from harness.backends import registry

        return registry.resolve(name, kernel_src=self.kernel_src, sanitize=self.sanitize,
                                timeout=self.timeout, log=lambda _m: None)


def _init(opener: Callable[[str], CoreBackend], names: tuple[str, str]) -> None:
    global _pair
    procs.install_in_child()  # Ctrl-C is the parent's; SIGTERM ends this one's workers
    _pair = (opener(names[0]), opener(names[1]))


def _chunk(layer: Layer, names: tuple[str, str], seed: int, features: frozenset[str],
           first: int, count: int) -> tuple[int, int, int | None]:
    assert _pair is not None
    return run_chunk(layer, _pair[0], _pair[1], names, seed, features, first, count)


def parallel_first(layer: Layer, opener: Callable[[str], CoreBackend], names: tuple[str, str],
                   seed: int, features: frozenset[str], examples: int | None,
                   seconds: float | None, jobs: int, stats: Stats,
                   progress: Callable[[Stats], None] | None) -> int | None:
    """The index of the first divergent program of ``layer`` within the budget, or None."""
    ctx = multiprocessing.get_context("spawn")  # nothing of the parent's workers is inherited
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init,
                               initargs=(opener, names))
    running: dict[Future, int] = {}
    nxt = 0
    best: int | None = None
    try:
        while True:
            while (best is None and len(running) < 2 * jobs
                   and (examples is None or nxt < examples)
                   and (seconds is None or stats.elapsed < seconds)):
                count = layer.chunk if examples is None else min(layer.chunk, examples - nxt)
                running[pool.submit(_chunk, layer, names, seed, features, nxt, count)] = nxt
                nxt += count
            if not running:
                return best
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                n, ops, hit = fut.result()
                stats.examples += n
                stats.ops += ops
                if hit is not None and (best is None or hit < best):
                    best = hit
            if best is not None:  # chunks after the divergence no longer matter
                for fut, first in list(running.items()):
                    if first > best and fut.cancel():
                        running.pop(fut)
            if progress is not None:
                progress(stats)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
