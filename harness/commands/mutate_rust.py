"""``buddy-harness mutate --backend rust@VERSION|PATH|NAME``: mutation testing of the binding.

The same options, verdicts, report and exit codes as the C's ``mutate``
(:mod:`harness.commands.mutate`); the mutants are the Rust operators'
(:mod:`harness.mutation.rust_mutants`), judged by :mod:`harness.mutation.rust_runner`,
and the accepted survivors are ``harness/mutation/survivors/rust@VERSION.yaml``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.util
import os
import random
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from harness.commands.common import UsageError, log, specs_dirs

_bench = None


def _init(tree, source: str, specs: list[Path], timeout: float, seed: int,
          baseline: dict) -> None:
    global _bench
    from harness.mutation.rust_runner import RustBench

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _bench = RustBench(tree, source, specs, timeout, seed, baseline)
    multiprocessing.util.Finalize(_bench, _bench.close, exitpriority=10)


def _judge(mutant, fuzz_examples: int):
    assert _bench is not None
    return _bench.judge(mutant, fuzz_examples)


def select(source: str, flags: list[str], ns: argparse.Namespace):
    """(every mutant, the ones to run) as --operator and --sample choose."""
    from harness.mutation.rust_mutants import generate

    every = generate(source, flags)
    chosen = [m for m in every if not ns.operator or m.operator in ns.operator]
    if ns.sample is not None and ns.sample < len(chosen):
        chosen = sorted(random.Random(ns.seed).sample(chosen, ns.sample), key=lambda m: m.start)
    return every, chosen


def run(ns: argparse.Namespace) -> tuple:
    """The Rust mutants' report, every mutant's id and the survivors file, which
    :func:`harness.commands.mutate.finish` turns into the output and the exit code."""
    from harness.backends.rust.build import BINDING, toolchain_missing
    from harness.mutation import survivors
    from harness.mutation.report import Report
    from harness.mutation.rust_mutants import OPERATORS
    from harness.mutation.rust_runner import RustBench, header_flags, survivors_path
    from harness.trees import resolve_tree

    unknown = sorted(set(ns.operator) - set(OPERATORS))
    if unknown:
        raise UsageError(f"--operator {', '.join(unknown)}: not an operator of the Rust "
                         f"mutants (they are {', '.join(OPERATORS)})")
    missing = toolchain_missing()
    if missing:
        raise UsageError(missing)
    name = ns.backend[0]
    tree = resolve_tree(name, ns.kernel_src, log)
    path = tree.root / BINDING
    if not path.is_file():
        raise UsageError(f"{tree.root}: no {BINDING} in this tree (Linux {tree.version}): "
                         "the Rust binding landed in 7.2")
    source = path.read_text(encoding="utf-8")
    listed_at = survivors_path(name, tree)
    try:
        listed = survivors.load_file(listed_at) if listed_at.is_file() else {}
    except ValueError as e:
        raise UsageError(str(e)) from None
    every, chosen = select(source, header_flags(tree), ns)
    jobs = max(1, min(ns.jobs or os.cpu_count() or 1, len(chosen)))
    log(f"mutate: {name} {BINDING}: {len(every)} mutants, running {len(chosen)}"
        + (f" (sample, seed {ns.seed})" if ns.sample else "")
        + f" in {jobs} processes, fuzz {ns.fuzz} programs per survivor of the corpus")
    t0 = time.monotonic()
    specs = specs_dirs(ns)
    base = RustBench(tree, source, specs, ns.timeout, ns.seed)
    baseline = base.baseline
    base.close()
    log(f"baseline: {len(baseline)} items (binding-layer corpus, doc examples, stress) on the "
        f"unmutated binding ({time.monotonic() - t0:.1f} s)")
    verdicts = {}
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init, initargs=(tree, source, specs, ns.timeout,
                                                            ns.seed, baseline))
    try:
        pending = [pool.submit(_judge, m, ns.fuzz) for m in chosen]
        for n, fut in enumerate(as_completed(pending), 1):
            verdicts[fut.result().id] = fut.result()
            if n % 10 == 0 or n == len(chosen):
                log(f"mutate: {n}/{len(chosen)} done, {time.monotonic() - t0:.0f} s")
    finally:  # on Ctrl-C or an error, what has not started is dropped
        pool.shutdown(wait=True, cancel_futures=True)
    report = Report(name, BINDING, len(every), ns.seed if ns.sample else None, ns.sample,
                    ns.fuzz, time.monotonic() - t0, accepted=listed)
    report.rows = [(m, verdicts[m.id], m.diff(source, BINDING)) for m in chosen]
    return report, {m.id for m in every}, listed_at
