"""``buddy-harness kunit``: a tree's own KUnit suite alone, printed as KTAP as the kernel does.

The KTAP goes to stdout unchanged (``kunit.py parse`` reads it); the verdicts, judged
by the expectation files like every item, are summed up on stderr and, with
``--json``, written in the results model of ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import baseline, options
from harness.backends.base import BackendUnavailable
from harness.backends.names import BackendRef
from harness.commands.common import NOTHING_SELECTED, add_backend_options, log
from harness.runner import EXPECTED, judge_suite, summary, summary_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_backend_options(p, default_help="native@ backends; default: every cached kernel")
    p.add_argument("--specs", action="append", default=[], metavar="DIR",
                   help="where the expectation files are (default specs/)")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write the verdicts as JSON, as `run --json` does")
    baseline.add_expect_as_option(p)


def run(ns: argparse.Namespace) -> int:
    from harness.backends.native import open_backend
    from harness.trees import kernels

    names = ns.backend or [f"native@{c.version}" for c in kernels.cached()]
    if not names:
        log("buddy-harness kunit: no kernel tree: pass --backend native@VERSION or native@PATH")
        return NOTHING_SELECTED
    roots = [Path(d) for d in ns.specs] or [Path("specs")]
    outcomes, judged_by = [], {}
    for name in names:
        if BackendRef(name).family != "native":
            raise BackendUnavailable(f"{name}: the KUnit suite is the C's; give a native@ "
                                     "backend (the Rust binding has its doc examples in `run`)")
        backend = open_backend(name, kernel_src=ns.kernel_src, sanitize=ns.native_sanitize,
                               timeout=ns.timeout, log=log)
        try:
            kunit = [s for s in backend.suites() if s.kind == "kunit"]
            if not kunit:
                continue  # opening it said so
            exp = baseline.load_for(backend, roots, ns.expect_as, log)
            judged_by[name] = baseline.baseline_name(backend, ns.expect_as)
            pairs = judge_suite(name, kunit[0], exp, None)
            last = kunit[0].last
            if last is not None:
                sys.stdout.write(last.ktap)
                sys.stdout.flush()
                log(f"{name}: {len(last.results)} KUnit cases in {last.seconds:.2f} s")
            for verdict, _ in pairs:
                outcomes.append(verdict)
                if verdict.status not in EXPECTED or verdict.case_id == "kunit":
                    log(f"{verdict.case_id} {name} {verdict.status}: {verdict.message[:300]}")
        finally:
            backend.close()
    if not outcomes:
        return NOTHING_SELECTED
    s = summary(outcomes)
    log(summary_line(s))
    if ns.json:
        Path(ns.json).write_text(json.dumps(
            {"results": [o.to_json() for o in outcomes], "summary": s,
             "expectations": judged_by}, indent=2) + "\n")
    return 0 if all(o.status in EXPECTED for o in outcomes) else 1
