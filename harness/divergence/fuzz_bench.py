"""The differential fuzzer's throughput, as ``bench`` reports it for a native backend."""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.backends.base import CoreBackend
from harness.backends.reference import ReferenceBackend

EXAMPLES = 20_000  # a fixed amount of work: the same programs on every machine


def measure_fuzz(native: CoreBackend, kernel_src: str | None, seed: int,
                 say: Callable[[str], None]) -> float:
    """Operations per second of ``fuzz`` reference vs ``native``, on every core."""
    from harness.divergence import fuzz
    from harness.divergence.pool import Opener

    jobs = os.cpu_count() or 1
    names = ("reference", native.name)
    found, stats = fuzz.search(ReferenceBackend(), native, names, seed=seed,
                               examples=EXAMPLES, jobs=jobs, opener=Opener(kernel_src))
    say(f"differential fuzz reference vs {native.name}: {stats.examples} programs, "
        f"{stats.ops:,} operations in {stats.elapsed:.1f} s = {stats.rate():,.0f} ops/s "
        f"({jobs} processes, seed {seed})"
        + (f"; DIVERGENCE: {found.divergence.describe(names)}" if found else ""))
    return stats.rate()
