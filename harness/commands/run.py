"""``buddy-harness run``: every case on every backend through the engine, as a table."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness import expectations
from harness.cli import NOTHING_SELECTED, USAGE_ERROR, default_backends, load_specs, log
from harness.engine.trace import Outcome
from harness.options import printable
from harness.runner import EXPECTED, Backends, run_one, select, specs_roots, summary, summary_line


def run(ns: argparse.Namespace) -> int:
    dirs, loaded = load_specs(ns)
    if not any(True for _ in select(loaded.cases, ns.keyword)):
        return _nothing_selected(ns, loaded)
    names = default_backends(ns)
    backends = Backends.open(names, kernel_src=ns.kernel_src, sanitize=ns.native_sanitize,
                             timeout=ns.timeout, log=log)
    outcomes: list[Outcome] = []
    todo = list(select(loaded.cases, ns.keyword))
    stale: list[str] = []
    start = time.monotonic()
    width = max((len(c.id) for c, _ in todo), default=10)
    try:
        print(f"{'case':<{width}}  {'params':<24} {'backend':<12} outcome")
        for name, backend in backends.opened.items():
            exp = expectations.load(specs_roots(dirs), backend.name)
            if ns.keyword is None and not loaded.errors:
                stale += exp.stale({(c.id, ps.id) for c, ps in select(loaded.cases, None)})
            for case, ps in todo:
                out = run_one(case, ps, backend, exp)
                out.backend = name
                outcomes.append(out)
                if not ns.quiet or out.status not in EXPECTED:
                    _row(out, width)
    except KeyboardInterrupt:
        backends.close()
        print(f"interrupted: {len(outcomes)} of {len(todo) * len(backends.opened or names)} "
              "finished", file=sys.stderr)
        print(summary_line(summary(outcomes)))
        return 130
    finally:
        backends.close()
    for line in stale:
        print(line, file=sys.stderr)
    s = summary(outcomes)
    took = time.monotonic() - start
    print(f"{len(todo)} items x {len(names)} backend(s) in {took:.1f}s")
    print(summary_line(s))
    if ns.json:
        Path(ns.json).write_text(json.dumps(
            {"results": [o.to_json() for o in outcomes], "summary": s}, indent=2) + "\n")
    if loaded.errors:
        return USAGE_ERROR
    return 0 if all(o.status in EXPECTED for o in outcomes) and not stale else 1


def _nothing_selected(ns: argparse.Namespace, loaded) -> int:
    """Said, and an exit code of its own, so a typo in -k never passes CI by running nothing."""
    if loaded.errors:
        return USAGE_ERROR  # the errors are the reason, and printed already
    where = ", ".join(ns.specs) or "specs"
    what = f"no case matches -k {ns.keyword!r}" if ns.keyword is not None and loaded.cases \
        else f"no case found in {where}"
    print(f"buddy-harness run: {printable(what)}: nothing ran", file=sys.stderr)
    return NOTHING_SELECTED


def _row(out: Outcome, width: int) -> None:
    line = f"{out.case_id:<{width}}  {out.params or '-':<24} {out.backend:<12} {out.status}"
    if out.status not in ("pass",):
        line += f"  {out.message[:300]}"
    print(line, flush=True)
