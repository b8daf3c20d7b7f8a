"""``buddy-harness check FILE...``: validate spec files without running them."""

from __future__ import annotations

import argparse
import sys

from harness import fileio
from harness.commands.common import NOTHING_SELECTED, USAGE_ERROR, UsageError
from harness.docs.speccheck import check_cases
from harness.options import printable
from harness.spec import summary
from harness.spec.loader import load_paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="FILE", help="spec files or directories")
    p.add_argument("--summary", action="store_true",
                   help="also print the corpus in figures, as docs/figures.md holds them")


def run(ns: argparse.Namespace) -> int:
    for p in ns.paths:
        problem = fileio.stat_problem(p)
        if problem:
            raise UsageError(f"{p}: {problem}")
    result = load_paths(ns.paths)
    quote_errors, docs = check_cases(result.cases)
    result.errors.extend(quote_errors)
    for err in result.errors:
        print(err, file=sys.stderr)
    if result.errors:
        print(f"{len(result.errors)} error(s) in {len(result.files)} file(s)", file=sys.stderr)
        return USAGE_ERROR
    if not result.files:
        where = printable(" ".join(ns.paths))
        print(f"buddy-harness check: no spec file (*.yaml, *.yml) in {where}: nothing checked",
              file=sys.stderr)
        return NOTHING_SELECTED
    items = sum(len(c.combinations()) for c in result.cases)
    quoted = "" if docs is None else f", quotes checked against {docs.version}"
    print(f"{len(result.files)} file(s), {len(result.cases)} case(s), {items} item(s){quoted}: ok")
    if ns.summary:
        print(summary.markdown(result.cases))
    return 0
