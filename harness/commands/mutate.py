"""``buddy-harness mutate``: mutation testing of the allocator's C against the corpus and fuzz
(and of the Rust binding, ``--backend rust@...``: :mod:`harness.commands.mutate_rust`).

Exit 0 when every mutant that compiled and did not time out was killed or is an
accepted survivor (harness/mutation/survivors/, kept true), 1 otherwise, 2 on usage
errors.  Mutants run with a 3 s per-operation timeout unless --timeout says otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from harness import options
from harness.backends.names import BackendRef
from harness.commands.common import (
    UsageError,
    add_backend_options,
    add_specs_option,
    log,
    specs_dirs,
)
from harness.mutation.mutants import OPERATORS
from harness.mutation.rust_mutants import OPERATORS as RUST_OPERATORS


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_backend_options(p, default_help="exactly one native or rust backend")
    add_specs_option(p)
    p.set_defaults(timeout=None)  # a looping mutant should cost seconds, not the usual 10
    for action in p._actions:
        if action.dest == "timeout":
            action.help = ("per-operation limit for a mutant's worker (default 3; 10 for rust@, "
                           "whose heaviest corpus item takes seconds through the binding)")
    p.add_argument("--sample", type=options.count, default=None, metavar="N",
                   help="run N mutants drawn with --seed instead of all of them")
    p.add_argument("--seed", type=options.seed, default=1, metavar="S",
                   help="seed of the sample and of the fuzz budget (default 1)")
    p.add_argument("--operator", action="append", default=[],
                   choices=list(dict.fromkeys(OPERATORS + RUST_OPERATORS)),
                   help="only mutants of this operator; repeatable")
    p.add_argument("--fuzz", type=options.count0, default=1000, metavar="N",
                   help="fuzz each corpus survivor with N programs against the reference "
                        "(default 1000; 0: corpus only)")
    p.add_argument("--jobs", type=options.count, default=None, metavar="N",
                   help="processes (default: one per core)")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file)
    p.add_argument("--html", metavar="FILE", default=None, type=options.output_file)


_judge_of: dict = {}


def _init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _judge(plan_path: Path, mutant, fuzz_examples: int):
    """Judge one mutant in a pool process; the plan is loaded once per process."""
    from harness.mutation import schemata

    judge = _judge_of.get(plan_path)
    if judge is None:
        judge = _judge_of[plan_path] = schemata.Judge(schemata.load_plan(plan_path))
    return judge.judge(mutant, fuzz_examples)


def _warm(specs: list[Path]) -> None:
    """The imports and the corpus, while the parent builds and records."""
    from harness.mutation import schemata

    schemata.items_of(specs)


def _cpu_seconds() -> float:
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def select_mutants(source: str, ns: argparse.Namespace):
    from harness.mutation.mutants import generate

    every = generate(source)
    chosen = [m for m in every if not ns.operator or m.operator in ns.operator]
    if ns.sample is not None and ns.sample < len(chosen):
        chosen = sorted(random.Random(ns.seed).sample(chosen, ns.sample), key=lambda m: m.start)
    return every, chosen


def run(ns: argparse.Namespace) -> int:
    from harness.mutation import schemata, survivors
    from harness.mutation.report import Report
    from harness.trees import resolve_tree

    rust = len(ns.backend) == 1 and BackendRef(ns.backend[0]).family == "rust"
    if ns.timeout is None:
        ns.timeout = 10.0 if rust else 3.0
    if not rust and (len(ns.backend) != 1 or BackendRef(ns.backend[0]).family != "native"):
        raise UsageError("needs exactly one native backend: --backend native@VERSION "
                         "(or rust@VERSION for the Rust binding)")
    if ns.sample is not None and ns.sample < 1 or ns.fuzz < 0 or ns.timeout <= 0:
        raise UsageError("--sample, --fuzz and --timeout must be positive")
    if ns.native_sanitize:
        raise UsageError("mutants are built without sanitizers (drop --native-sanitize)")
    if rust:
        from harness.commands import mutate_rust as rust_cli

        return finish(*rust_cli.run(ns), ns)
    name = ns.backend[0]
    specs = specs_dirs(ns)
    tree = resolve_tree(name, ns.kernel_src, log)
    source = tree.source.read_text(encoding="utf-8")
    try:
        listed = survivors.load(tree.version)
    except ValueError as e:
        raise UsageError(str(e)) from None
    every, chosen = select_mutants(source, ns)
    jobs = max(1, min(ns.jobs or os.cpu_count() or 1, len(chosen)))
    log(f"mutate: {name} {tree.source.relative_to(tree.root)}: {len(every)} mutants, running "
        f"{len(chosen)}" + (f" (sample, seed {ns.seed})" if ns.sample else "")
        + f" in {jobs} processes, fuzz {ns.fuzz} programs per corpus survivor")
    t0 = time.monotonic()
    verdicts = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init) as pool:
        warm = [pool.submit(_warm, specs) for _ in range(jobs)]
        plan = schemata.plan(tree, source, specs, ns.timeout, chosen, ns.fuzz, ns.seed, log,
                             pool.submit)
        try:
            path = plan.save()
            log(f"baseline: {len(plan.baseline)} corpus items and {ns.fuzz} fuzz programs on "
                f"the unmutated source, recorded ({time.monotonic() - t0:.1f} s)")
            for w in warm:
                w.result()
            # The corpus survivors run longest: start them first, so no process idles at the end.
            order = sorted(chosen, key=lambda m: m.id not in listed)
            futs = {pool.submit(_judge, path, m, ns.fuzz): m for m in order}
            try:
                for n, fut in enumerate(as_completed(futs), 1):
                    v = fut.result()
                    verdicts[v.id] = v
                    if n % 100 == 0 or n == len(chosen):
                        log(f"mutate: {n}/{len(chosen)} done, {time.monotonic() - t0:.0f} s")
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        finally:
            plan.close()
    rel = str(tree.source.relative_to(tree.root))
    report = Report(name, rel, len(every), ns.seed if ns.sample else None, ns.sample, ns.fuzz,
                    time.monotonic() - t0, accepted=listed)
    report.rows = [(m, verdicts[m.id], m.diff(source, rel)) for m in chosen]
    return finish(report, {m.id for m in every}, survivors.path_for(tree.version), ns)


def finish(report, ids: set[str], listed_at: Path, ns: argparse.Namespace) -> int:
    """Check the accepted survivors against the run, print the report and write --json and
    --html; the exit code (1 while a survivor is unlisted or open, or the list is stale)."""
    from harness.mutation import survivors
    from harness.mutation.runner import KILLED

    killed = {m.id for m, v, _d in report.rows if v.status == KILLED}
    report.problems = survivors.stale(report.accepted, ids, killed, listed_at)
    sys.stdout.write(report.text())
    log(f"mutate: {report.seconds:.1f} s, {_cpu_seconds():.1f} s of CPU with every "
        "process it started (on a loaded machine the second says more)")
    if ns.json:
        report.write_json(Path(ns.json))
    if ns.html:
        report.write_html(Path(ns.html))
    c = report.counts()
    return 1 if c["survived"] or c["open"] or report.problems else 0
