"""``buddy-harness docs``: documented items, the cases citing them, coverage, reports, drift.

Exit 0 when the waivers are true and (on the reference tree) every item is
covered or waived; 1 otherwise; 2 on usage or spec errors.
"""

from __future__ import annotations

import argparse
import sys

from harness import baseline, fileio, options, results
from harness.commands.common import (
    USAGE_ERROR,
    UsageError,
    add_backend_options,
    add_specs_option,
    load_specs,
    log,
)
from harness.docs import coverage, drift, kdoc_tool, report, tree, waivers
from harness.docs.outcomes import CaseOutcome
from harness.docs.outcomes import run as run_outcomes
from harness.runner import specs_roots


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_specs_option(p)
    p.add_argument("--tree", default=tree.REFERENCE, metavar="VERSION|PATH",
                   help=f"kernel tree to read: a cached version or a path (default "
                        f"{tree.REFERENCE})")
    add_backend_options(p, default_help="default: reference and the tree's own C")
    p.add_argument("--no-run", action="store_true",
                   help="list citations only; run no case")
    p.add_argument("--html", metavar="FILE", default=None, type=options.output_file,
                   help="write the report as HTML")
    p.add_argument("--markdown", metavar="FILE", default=None, type=options.output_file,
                   help="write the report as Markdown")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write the report as JSON (the results model the HTML and Markdown "
                        "are rendered from)")
    baseline.add_expect_as_option(p)
    p.add_argument("--diff", nargs=2, metavar=("A", "B"), default=None,
                   help="what changed in the documentation from tree A to tree B")


def run(ns: argparse.Namespace) -> int:
    dirs, loaded = load_specs(ns)
    roots = specs_roots(dirs)
    if ns.diff:
        if ns.json:
            raise UsageError("--json writes the documentation report; with --diff write "
                             "--markdown")
        a, b = (_load(t) for t in ns.diff)
        d = drift.compare(a, b, loaded.cases)
        sys.stdout.write(drift.terminal(d))
        if ns.markdown:
            fileio.write_output(ns.markdown, drift.markdown(d))
        return USAGE_ERROR if loaded.errors else 0
    docs = _load(ns.tree)
    w = waivers.load(roots)
    cov = coverage.build(loaded.cases, docs, w.reasons, w.sentences)
    outcomes: dict[str, CaseOutcome] = {}
    if not ns.no_run:
        names = ns.backend or ["reference", f"native@{docs.label}"]
        outcomes = run_outcomes(loaded.cases, names, dirs, kernel_src=ns.kernel_src,
                                sanitize=ns.native_sanitize, timeout=ns.timeout, log=log,
                                expect_as=ns.expect_as)
    kd = kdoc_tool.run(docs.root, sorted({i.file for i in docs.items
                                          if not i.id.startswith("rust:")}))
    sys.stdout.write(report.terminal(cov, outcomes, kd))
    for path, render in ((ns.html, report.to_html), (ns.markdown, report.markdown)):
        if path:
            fileio.write_output(path, render(cov, outcomes, kd))
    if ns.json:
        results.write(ns.json, "docs", report.model(cov, outcomes, kd))
    problems = w.stale(cov) if docs.label == tree.REFERENCE else []
    if docs.label == tree.REFERENCE:
        problems += [f"{i.file}:{i.line}: '{i.id}' is documented but no case cites it "
                     f"(add a case, or a waiver in specs/{waivers.FILE})"
                     for i in cov.uncovered()]
    for line in problems:
        print(line, file=sys.stderr)
    if loaded.errors:
        return USAGE_ERROR
    return 1 if problems else 0


def _load(spec: str):
    try:
        return tree.load(spec)
    except tree.NoTree as e:
        raise UsageError(str(e)) from None
