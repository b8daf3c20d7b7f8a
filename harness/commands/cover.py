"""``buddy-harness cover``: line and branch coverage of the allocator's C by the corpus.

Builds the tree's allocator with gcc's coverage counters (a cached build
variant), runs every case of the corpus on it through the engine (and, with
``--fuzz-examples``, that many fuzzed programs against the reference), then
reports per function what ran, as text, and as JSON and HTML on request.
Exit 0, or 1 when below a --fail-under goal, 2 on usage or spec errors.

``--pairs`` measures interaction coverage instead (:mod:`harness.cover.pairs`):
the core-layer corpus on a plain build (or the reference), each alloc step
classified by ``specs/interactions.yaml``; exit 1 while a pair is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import baseline, options, results
from harness.backends.names import BackendRef
from harness.commands.common import USAGE_ERROR, UsageError, load_specs, log
from harness.cover import report
from harness.judge import Judge
from harness.runner import select, specs_roots, summary, summary_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, metavar="NAME", type=options.backend,
                   help="native, native@VERSION or native@PATH")
    p.add_argument("--kernel-src", metavar="PATH", default=None,
                   help="kernel tree for the plain 'native' backend")
    p.add_argument("--specs", action="append", default=[], metavar="DIR",
                   help="directory (or file) of YAML cases; repeatable (default specs/)")
    p.add_argument("--fuzz-examples", type=options.count0, default=0, metavar="N",
                   help="also run N fuzzed programs against the reference (default 0)")
    p.add_argument("--seed", type=options.seed, default=0, help="fuzz seed (default 0)")
    p.add_argument("--timeout", type=options.seconds, default=10.0, metavar="SECONDS",
                   help="per-operation limit for the native worker (default 10)")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write the coverage as JSON")
    p.add_argument("--html", metavar="FILE", default=None, type=options.report_page,
                   help="write gcovr's annotated source page (FILE plus per-file pages)")
    p.add_argument("--fail-under-lines", type=options.percent, default=None, metavar="PERCENT",
                   help="exit 1 when fewer lines ran")
    p.add_argument("--fail-under-branches", type=options.percent, default=None, metavar="PERCENT",
                   help="exit 1 when fewer branches were taken")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="keep gcov's counters and notes here (default: a temporary directory)")
    p.add_argument("--pairs", action="store_true",
                   help="interaction coverage instead: which pairs of the input classes of "
                        "specs/interactions.yaml the core-layer cases exercise (the backend "
                        "may be the reference)")
    p.add_argument("--every-pair", action="store_true",
                   help="with --pairs: also list each exercised pair with its cases, and each "
                        "waived pair with its reason")
    p.add_argument("-j", "--jobs", type=options.count, default=None, metavar="N",
                   help="with --pairs: worker processes for a native backend (default: one per "
                        "core)")
    baseline.add_expect_as_option(p)


def run(ns: argparse.Namespace) -> int:
    from harness.backends.native.coverage import open_coverage_backend

    if ns.pairs:
        return _pairs(ns)
    if ns.every_pair or ns.jobs is not None:
        raise UsageError("--every-pair and --jobs go with --pairs")
    if BackendRef(ns.backend).family != "native":
        raise UsageError(f"cover measures the kernel's C: give a native backend, not "
                         f"'{ns.backend}'")
    if ns.fuzz_examples < 0:
        raise UsageError("--fuzz-examples must not be negative")
    dirs, loaded = load_specs(ns)
    with tempfile.TemporaryDirectory(prefix="buddy-cover-") as tmp:
        data = Path(ns.data) if ns.data else Path(tmp) / "data"
        backend, tree = open_coverage_backend(ns.backend, data, kernel_src=ns.kernel_src,
                                              timeout=ns.timeout, log=log)
        try:
            judge = Judge.of(backend, specs_roots(dirs), ns.expect_as, log, name=ns.backend)
            outcomes = [judge.case(c, ps, backend) for c, ps in select(loaded.cases, None)]
            log(f"cover: corpus on {ns.backend}: {len(outcomes)} items, "
                f"{summary_line(summary(outcomes))}")
            if ns.fuzz_examples:
                _fuzz(backend, ns)
        finally:
            backend.close()  # the worker writes its counters as it exits
        raw = report.gcovr_json(data, tree.root, tree.source, Path(tmp) / "gcovr.json")
        trace, cov = report.filtered(raw, tree.source)
        by = "the corpus" + (f" + {ns.fuzz_examples} fuzzed programs" if ns.fuzz_examples else "")
        print(f"coverage of {cov.file} (Linux {tree.version}) by {by}")
        print(report.text_report(cov))
        if ns.json:
            results.write(ns.json, "cover", dict(cov.to_json(), backend=ns.backend,
                                                 kernel=tree.version,
                                                 fuzz_examples=ns.fuzz_examples))
        if ns.html:
            tf = Path(tmp) / "filtered.json"
            tf.write_text(json.dumps(trace))
            report.render_html(tf, tree.root, Path(ns.html))
    if loaded.errors:
        return USAGE_ERROR  # the files that loaded were measured, as run does
    return _below_goal(cov, ns)


def _below_goal(cov: report.FileCoverage, ns: argparse.Namespace) -> int:
    short = []
    if cov.missing_functions:
        print(f"coverage does not count every function: {', '.join(cov.missing_functions)} "
              "missing from gcov's data")
        return 1
    if ns.fail_under_lines is not None and cov.total.line_percent < ns.fail_under_lines:
        short.append(f"lines {cov.total.line_percent:.1f}% < {ns.fail_under_lines:g}%")
    if ns.fail_under_branches is not None and cov.total.branch_percent < ns.fail_under_branches:
        short.append(f"branches {cov.total.branch_percent:.1f}% < {ns.fail_under_branches:g}%")
    if short:
        print(f"coverage below the goal: {', '.join(short)}")
        return 1
    return 0


def _fuzz(backend, ns: argparse.Namespace) -> None:
    from harness.backends.registry import resolve
    from harness.divergence import fuzz

    ref = resolve("reference", kernel_src=None, sanitize=False, timeout=ns.timeout, log=log)
    finding, stats = fuzz.search(ref, backend, ("reference", ns.backend), seed=ns.seed,
                                 examples=ns.fuzz_examples)
    log(f"cover: {stats.line()}" + (" (a divergence was found: run fuzz to see it)"
                                          if finding else ""))


def _pairs(ns: argparse.Namespace) -> int:
    from functools import partial

    from harness import parallel
    from harness.backends.registry import resolve
    from harness.cover import interactions, pairs
    from harness.spec.position import SpecError

    if ns.fuzz_examples or ns.html or ns.data or ns.fail_under_lines is not None \
            or ns.fail_under_branches is not None:
        raise UsageError("--pairs measures the corpus's interactions: --fuzz-examples, --html, "
                         "--data and --fail-under-* are for line coverage")
    dirs, loaded = load_specs(ns)
    roots = specs_roots(dirs)
    files = [Path(r) / interactions.FILE for r in roots if (Path(r) / interactions.FILE).is_file()]
    if not files:
        raise UsageError(f"no {interactions.FILE} in {', '.join(map(str, roots))}: it describes "
                         "the input classes --pairs counts")
    try:
        inter = interactions.load_file(files[0])
    except SpecError as e:
        print(e, file=sys.stderr)
        return USAGE_ERROR
    todo = [(c, ps) for c, ps in select(loaded.cases, None) if c.layer == "core"]
    again = partial(resolve, ns.backend, kernel_src=ns.kernel_src, sanitize=False,
                    timeout=ns.timeout, log=lambda _: None)
    backend = resolve(ns.backend, kernel_src=ns.kernel_src, sanitize=False, timeout=ns.timeout,
                      log=log)
    try:
        judge = Judge.of(backend, roots, ns.expect_as, log, name=ns.backend)
        caps = backend.capabilities
        outs = list(parallel.run_corpus(todo, backend, judge,
                                        jobs=ns.jobs or parallel.default_jobs(), reopen=again))
    finally:
        backend.close()
    log(f"cover --pairs: core-layer corpus on {ns.backend}: {len(outs)} items, "
        f"{summary_line(summary(outs))}")
    rep = pairs.report([(c, ps, o) for (c, ps), o in zip(todo, outs)],
                       inter.for_kernel(caps.version, caps.features), kernel=caps.version,
                       backend=ns.backend)
    print(pairs.text_report(rep, every=ns.every_pair))
    if ns.json:
        results.write(ns.json, "cover-pairs", rep.to_json())
    if loaded.errors:
        return USAGE_ERROR
    return 0 if rep.complete else 1

