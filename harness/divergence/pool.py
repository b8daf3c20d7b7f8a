"""Running the fuzzer's chunks of programs in several processes.

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


def _chunk(names: tuple[str, str], seed: int, features: frozenset[str], first: int,
           count: int, layer: str) -> tuple[int, int, int | None]:
    assert _pair is not None
    if layer == "binding":
        from harness.divergence import binding_fuzz

        return binding_fuzz.run_chunk(_pair[0], _pair[1], seed, features, first, count)
    from harness.divergence.fuzz import run_chunk

    return run_chunk(_pair[0], _pair[1], names, seed, features, first, count)


def serial_first(run_chunk: Callable[[int, int], tuple[int, int, int | None]], chunk: int,
                 examples: int | None, seconds: float | None, stats, progress) -> int | None:
    """The same search in this process: ``run_chunk(first, count)`` over consecutive
    chunks until one has a divergent program (its index is returned) or the budget ends."""
    first = 0
    while (examples is None or first < examples) and (
            seconds is None or stats.elapsed < seconds):
        count = chunk if examples is None else min(chunk, examples - first)
        done, ops, hit = run_chunk(first, count)
        stats.examples += done
        stats.ops += ops
        first += done
        if progress is not None:
            progress(stats)
        if hit is not None:
            return hit
    return None


def parallel_first(opener: Callable[[str], CoreBackend], names: tuple[str, str], seed: int,
                   features: frozenset[str], examples: int | None, seconds: float | None,
                   jobs: int, stats, progress, layer: str = "core") -> int | None:
    """The index of the first divergent program within the budget, or None (``layer``:
    core programs, :mod:`~harness.divergence.fuzz`, or binding programs,
    :mod:`~harness.divergence.binding_fuzz`)."""
    from harness.divergence.fuzz import CHUNK

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
                count = CHUNK if examples is None else min(CHUNK, examples - nxt)
                running[pool.submit(_chunk, names, seed, features, nxt, count, layer)] = nxt
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
