"""``buddy-harness bench``: speed and memory figures of a backend (printed, never asserted).

Figures, all from one seeded run so their ratios are comparable:
* start-up: opening the backend (a cached build for native) and creating a space;
* alloc+free pairs per second on a 1 GiB / 4 KiB space under a random mix
  (sizes 4 KiB..4 MiB, powers of two and not, every mode and flag), one
  operation per call and in batches (one round trip each on native);
* cost per alloc+free pair with 10^3 and with 10^5 live blocks, and their ratio;
* memory per live block (reference backend: traced Python allocations);
* time and memory to create a 2^63-byte space and make one 4 KiB allocation.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from harness import options
from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    TRIM_DISABLE,
    Allocator,
    BuddyError,
    CoreBackend,
    Op,
)
from harness.backends.batch import run_batch
from harness.backends.names import BackendRef
from harness.backends.registry import resolve

K, M, G = 1 << 10, 1 << 20, 1 << 30
SPACE, CHUNK = G, 4 * K
FLAG_MIX = [0, 0, TOPDOWN, RANGE, CONTIGUOUS, CLEAR, CLEAR | TOPDOWN, CONTIGUOUS | TRIM_DISABLE]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="reference", metavar="NAME", type=options.backend,
                   help="backend to measure (default reference)")
    p.add_argument("--kernel-src", metavar="PATH", default=None)
    p.add_argument("--seed", type=options.seed, default=1, help="random seed (default 1)")
    p.add_argument("--pairs", type=options.count, default=20000,
                   help="alloc+free pairs in the mixed workload (default 20000)")
    p.add_argument("--edit-to-verdict", action="store_true",
                   help="time rebuild + the whole corpus after an edit to the backend's source, "
                        "on a scratch copy of its tree (native@PATH or native@VERSION)")
    p.add_argument("--kunit-uml", metavar="FULL-TREE", default=None,
                   help="with --edit-to-verdict: also time kunit.py on UML in this full kernel "
                        "tree after the same edits, alternating with the harness")
    p.add_argument("--runs", type=options.count, default=5, help="edits timed (default 5)")
    p.add_argument("--specs", action="append", default=[], metavar="DIR",
                   help="corpus for --edit-to-verdict (default specs/)")
    p.add_argument("--jobs", type=options.count, default=None, metavar="N",
                   help="worker processes for --edit-to-verdict (default: one per core)")
    p.add_argument("--figures", metavar="FILE", default=None,
                   help="measure the documentation's figures (harness/figures.py) and write "
                        "their table into FILE (docs/figures.md), the rest of FILE kept")
    p.add_argument("--figure", action="append", default=[], metavar="KEY",
                   help="with --figures: only this figure (repeatable), the other rows kept")


def random_request(rng: random.Random) -> tuple[int, int, int, int, int]:
    """(start, end, size, min_block_size, flags) of the mixed workload."""
    pages = rng.choice([1, 2, 3, 4, 5, 8, 12, 16, 33, 64, 100, 256, 300, 1024])
    size = pages * CHUNK
    flags = rng.choice(FLAG_MIX)
    mbs = CHUNK
    if rng.random() < 0.15:  # offset-aligned: a power of two below min_block_size
        size = 1 << rng.randrange(12, 17)
        mbs = size << rng.randrange(1, 4)
        flags &= ~(CONTIGUOUS | RANGE)
    start = end = 0
    if flags & RANGE:
        start = rng.randrange(0, SPACE // (64 * M)) * 64 * M
        end = start + 64 * M
    return start, end, size, mbs, flags


def churn(mm: Allocator, rng: random.Random, pairs: int,
          live: list[int]) -> tuple[float, int]:
    """Run ``pairs`` alloc+free pairs keeping ``len(live)`` steady; (seconds, refusals)."""
    failed = 0
    t0 = time.perf_counter()
    for _ in range(pairs):
        try:
            h, _ = mm.alloc(*random_request(rng))
        except BuddyError:
            failed += 1
            continue
        live.append(h)
        i = rng.randrange(len(live))
        live[i], live[-1] = live[-1], live[i]
        mm.free(live.pop(), rng.random() < 0.2)
    return time.perf_counter() - t0, failed


def batch_churn(mm: Allocator, rng: random.Random, pairs: int, per_batch: int = 2500) -> float:
    """The mixed workload as batches of ops: each alloc, then a free of a random live one."""
    secs = 0.0
    for _ in range(0, pairs, per_batch):
        ops: list[Op] = []
        live: list[int] = []
        for i in range(per_batch):
            start, end, size, mbs, flags = random_request(rng)
            ops.append(Op("alloc", {"start": start, "end": end, "size": size,
                                    "min_block_size": mbs, "flags": flags}))
            live.append(i)
            if len(live) > 1000 or i == per_batch - 1:
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                ops.append(Op("free", {"handle": live.pop(), "cleared": False}))
        ops += [Op("free", {"handle": h, "cleared": False}) for h in live]
        t0 = time.perf_counter()
        run_batch(mm, ops)
        secs += time.perf_counter() - t0
    return secs


def fill(mm: Allocator, rng: random.Random, n: int) -> list[int]:
    """Make ``n`` live single-chunk allocations scattered over the space."""
    live: list[int] = []
    while len(live) < n:
        flags = rng.choice([0, TOPDOWN, RANGE])
        start = rng.randrange(0, SPACE // M) * M if flags & RANGE else 0
        try:
            live.append(mm.alloc(start, start + M if flags & RANGE else 0, CHUNK, CHUNK,
                                 flags)[0])
        except BuddyError:
            pass
    return live


def small_churn(mm: Allocator, rng: random.Random, pairs: int, live: list[int]) -> float:
    t0 = time.perf_counter()
    for _ in range(pairs):
        h, _ = mm.alloc(0, 0, rng.choice([1, 2, 3, 8]) * CHUNK, CHUNK,
                        rng.choice([0, TOPDOWN]))
        mm.free(h)
    return time.perf_counter() - t0


def measure(backend: CoreBackend, seed: int, pairs: int,
            say: Callable[[str], None]) -> dict[str, float]:
    rng = random.Random(seed)
    fig: dict[str, float] = {}

    mm = backend.create(SPACE, CHUNK)
    live = fill(mm, rng, 1000)
    secs, failed = churn(mm, rng, pairs, live)
    fig["pairs_per_s"] = pairs / secs
    say(f"mixed workload: {pairs} alloc+free pairs in {secs:.2f} s = "
        f"{fig['pairs_per_s']:,.0f} pairs/s (1 GiB, 4 KiB chunks, ~1000 live, "
        f"{failed} requests refused)")
    for h in live:
        mm.free(h)
    mm.fini()

    mm = backend.create(SPACE, CHUNK)
    secs = batch_churn(mm, rng, pairs)
    fig["batch_pairs_per_s"] = pairs / secs
    say(f"same mix in batches of 2500 allocs: {fig['batch_pairs_per_s']:,.0f} pairs/s "
        f"({fig['batch_pairs_per_s'] / fig['pairs_per_s']:.1f}x one op per call)")
    mm.fini()

    per_op = {}
    for n in (1000, 100_000):
        mm = backend.create(SPACE, CHUNK)
        live = fill(mm, rng, n)
        reps = 20_000
        per_op[n] = small_churn(mm, rng, reps, live) / reps * 1e6
        say(f"{n:>7} live blocks: {per_op[n]:.2f} us per alloc+free pair")
        for h in live:
            mm.free(h)
        mm.fini()
    fig["us_at_1e3"], fig["us_at_1e5"] = per_op[1000], per_op[100_000]
    fig["ratio_1e5_1e3"] = per_op[100_000] / per_op[1000]
    say(f"cost ratio 10^5 / 10^3 live blocks: {fig['ratio_1e5_1e3']:.2f}")

    t0 = time.perf_counter()
    huge = backend.create(1 << 63, CHUNK)
    huge.alloc(0, 0, CHUNK, CHUNK, 0)
    fig["huge_ms"] = (time.perf_counter() - t0) * 1e3
    say(f"2^63-byte space: created and one 4 KiB block allocated in {fig['huge_ms']:.2f} ms")

    if backend.name == "reference":  # Python allocations are traceable in-process only
        tracemalloc.start()
        huge = backend.create(1 << 63, CHUNK)
        huge.alloc(0, 0, CHUNK, CHUNK, 0)
        fig["huge_bytes"] = tracemalloc.get_traced_memory()[0]
        mm = backend.create(SPACE, CHUNK)
        base = tracemalloc.get_traced_memory()[0]
        live = fill(mm, rng, 50_000)
        fig["bytes_per_live_block"] = (tracemalloc.get_traced_memory()[0] - base) / len(live)
        tracemalloc.stop()
        say(f"2^63-byte space with one live block: {fig['huge_bytes'] / 1024:.1f} KiB")
        say(f"memory: {fig['bytes_per_live_block']:.0f} bytes per live block (50000 live, "
            "counting the split blocks and free-tree entries they cost)")
    return fig


def run(ns: argparse.Namespace) -> int:
    if ns.figures:
        return _figures(Path(ns.figures), ns.figure)
    if ns.edit_to_verdict:
        from harness import edit_bench

        name = ns.backend if ns.backend != "reference" else "native@7.2"
        try:
            measured = edit_bench.measure(
                name, kernel_src=ns.kernel_src, specs=ns.specs or ["specs"], runs=ns.runs,
                jobs=ns.jobs, log=print,
                kunit_uml=Path(ns.kunit_uml) if ns.kunit_uml else None)
        except ValueError as e:
            from harness.commands.common import UsageError

            raise UsageError(str(e)) from None
        return edit_bench.report(name, measured, print)
    if BackendRef(ns.backend).family == "rust":
        from harness.backends.rust import bench as rust_bench

        return rust_bench.run(ns.backend, kernel_src=ns.kernel_src)
    t0 = time.perf_counter()
    backend = resolve(ns.backend, kernel_src=ns.kernel_src, log=print)
    try:
        backend.create(SPACE, CHUNK).fini()
        print(f"backend {backend.name} ({backend.capabilities.version}), seed {ns.seed}: "
              f"opened and first space created in {(time.perf_counter() - t0) * 1e3:.0f} ms")
        measure(backend, ns.seed, ns.pairs, print)
        if backend.name != "reference":
            from harness.divergence.fuzz_bench import measure_fuzz

            measure_fuzz(backend, ns.kernel_src, ns.seed, print)
    finally:
        backend.close()
    return 0


def _figures(page: Path, keys: list[str]) -> int:
    from harness import figures, fileio
    from harness.commands.common import UsageError

    try:
        text = figures.record(page, keys, print)
    except ValueError as e:
        raise UsageError(str(e)) from None
    fileio.write_output(page, text, update=True)
    print(f"figures written to {page}")
    return 0
