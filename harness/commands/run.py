"""``buddy-harness run``: every case on every backend through the engine, as a table."""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

from harness import baseline, options, parallel, procs, results
from harness.backends.registry import resolve
from harness.commands.common import (
    NOTHING_SELECTED,
    USAGE_ERROR,
    add_backend_options,
    add_specs_option,
    default_backends,
    load_specs,
    log,
    specs_dirs,
)
from harness.divergence import gate
from harness.docs import flags
from harness.engine.trace import Outcome
from harness.judge import EXPECTED, Judge, all_expected
from harness.options import printable
from harness.runner import (
    Opening,
    select,
    specs_roots,
    start_suites,
    suite_outcomes,
    summary,
    summary_line,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_specs_option(p)
    add_backend_options(p, default_help="default: reference, plus native for --kernel-src "
                                        "and native@VERSION for every cached kernel")
    p.add_argument("-k", dest="keyword", default=None, metavar="TEXT",
                   help="only cases whose id, title or params contain TEXT")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="list only unexpected outcomes")
    baseline.add_expect_as_option(p)
    p.add_argument("-j", "--jobs", type=options.count, default=None, metavar="N",
                   help="worker processes per native backend (default: one per core)")
    p.add_argument("--fuzz", type=options.seconds, default=None, metavar="SECONDS",
                   help="also fuzz the reference against each native@/rust@ backend, SECONDS "
                        "in all, as items fuzz.core, fuzz.core.inject and fuzz.binding")
    p.add_argument("--fuzz-seed", type=options.seed, default=None, metavar="N",
                   help="seed of --fuzz (default 1, so a failure reproduces)")


def run(ns: argparse.Namespace) -> int:
    specs_dirs(ns)  # a missing directory is said before anything is built
    names = default_backends(ns)
    opening = Opening(names, kernel_src=ns.kernel_src, sanitize=ns.native_sanitize,
                      timeout=ns.timeout, log=log, first=partial(start_suites, keyword=ns.keyword))
    try:
        dirs, loaded = load_specs(ns)  # while the allocators build
    except BaseException:
        opening.abandon()
        raise
    backends = opening.result()
    outcomes: list[Outcome] = []
    todo = list(select(loaded.cases, ns.keyword))
    stale: list[str] = []
    judged_by: dict[str, str | None] = {}  # backend -> the expectation file's name, for the JSON
    absent = flags.absent_by_backend(list({c.id: c for c, _ in todo}.values()), backends.opened)
    start = time.monotonic()
    width = max((len(c.id) for c, _ in todo), default=10)
    fuzzing = gate.GateFuzz(ns.fuzz, ns.fuzz_seed, list(backends.opened), log)
    try:
        print(f"{'case':<{width}}  {'params':<24} {'backend':<12} outcome")
        for name, backend in backends.opened.items():
            judge = Judge.of(backend, specs_roots(dirs), ns.expect_as, log, name=name)
            judged_by[name] = judge.file
            start_suites(backend, ns.keyword)  # doc examples, KUnit tests, lints: beside the cases
            again = partial(resolve, name, kernel_src=ns.kernel_src, sanitize=ns.native_sanitize,
                            timeout=ns.timeout, log=lambda _: None)
            for out in parallel.run_corpus(todo, backend, judge,
                                           jobs=ns.jobs or parallel.default_jobs(),
                                           reopen=again, remember=True):
                outcomes.append(out)
                if not ns.quiet or out.status not in EXPECTED:
                    _row(out, width, flags.note(absent, name, out.case_id))
            docs = [v for v, _ in suite_outcomes(backend, judge, ns.keyword)]
            docs += fuzzing.outcomes(backend, judge, ns.keyword)
            for out in docs:
                outcomes.append(out)
                if not ns.quiet or out.status not in EXPECTED:
                    _row(out, width)
            if ns.keyword is None and not loaded.errors:
                known = {(c.id, ps.id) for c, ps in select(loaded.cases, None)}
                known |= gate.known_ids(name) | {(o.case_id, "") for o in docs}
                stale += judge.expectations.stale(known)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (harness.procs): what finished
        total = len(todo) * len(backends.opened or names)
        backends.close()
        print(f"interrupted: {len(outcomes)} of {total} finished", file=sys.stderr)
        s = summary(outcomes)
        print(summary_line(s))
        if ns.json:
            _write_json(ns.json, outcomes, s, judged_by, interrupted=str(e) or "SIGINT")
        return procs.exit_code(e)
    finally:
        backends.close()
    if not outcomes:  # no case, and no doc example of a backend, matched
        return _nothing_selected(ns, loaded)
    for line in stale:
        print(line, file=sys.stderr)
    for line in flags.summary(absent):
        print(line)
    s = summary(outcomes)
    took = time.monotonic() - start
    remembered = sum(o.remembered for o in outcomes)
    print(f"{len(todo)} items x {len(names)} backend(s) in {took:.1f}s"
          + (f" ({remembered} outcomes as on the last run, every reply of the C the same)"
             if remembered else ""))
    changes = baseline.changed(outcomes, EXPECTED)
    if changes:
        print(f"{len(changes)} not as the expectations predict (first differing step each):")
        print("\n".join(changes))
    print(summary_line(s))
    if ns.json:
        _write_json(ns.json, outcomes, s, judged_by)
    if loaded.errors:
        return USAGE_ERROR
    return 0 if all_expected(outcomes) and not stale else 1


def _write_json(path: str, outcomes: list[Outcome], s: dict[str, int],
                judged_by: dict[str, str | None], interrupted: str | None = None) -> None:
    """The results file; an interrupted run's says which signal cut it short."""
    data: dict = {"results": [o.to_json() for o in outcomes], "summary": s,
                  "expectations": judged_by}
    if interrupted:
        data["interrupted"] = interrupted
    results.write(path, "run", data)


def _nothing_selected(ns: argparse.Namespace, loaded) -> int:
    """Said, and an exit code of its own, so a typo in -k never passes CI by running nothing."""
    if loaded.errors:
        return USAGE_ERROR  # the errors are the reason, and printed already
    where = ", ".join(ns.specs) or "specs"
    what = f"no case matches -k {ns.keyword!r}" if ns.keyword is not None and loaded.cases \
        else f"no case found in {where}"
    print(f"buddy-harness run: {printable(what)}: nothing ran", file=sys.stderr)
    return NOTHING_SELECTED


def _row(out: Outcome, width: int, note: str = "") -> None:
    line = f"{out.case_id:<{width}}  {out.params or '-':<24} {out.backend:<12} {out.status}"
    if note:
        line += f" [{note}]"
    if out.status not in ("pass",):
        line += f"  {out.message.splitlines()[0][:300] if out.message else ''}"
    print(line, flush=True)
