"""``buddy-harness diff``: every case on every backend, the matrix and where they disagree.

Exit 0 when backends agree or disagree only where expectations account for it,
1 when some row's disagreement comes with an unexpected cell (fail, xpass,
crash, error), 2 on usage or spec errors.
"""

from __future__ import annotations

import argparse
import sys
import time

from harness import baseline, fileio, options
from harness.commands.common import (
    NOTHING_SELECTED,
    USAGE_ERROR,
    UsageError,
    add_backend_options,
    add_specs_option,
    load_specs,
    log,
)
from harness.divergence import matrix, report
from harness.docs import flags
from harness.judge import Judge
from harness.runner import Backends, select, specs_roots


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_specs_option(p)
    add_backend_options(p, default_help="at least two")
    p.add_argument("-k", dest="keyword", default=None, metavar="TEXT",
                   help="only cases whose id, title or params contain TEXT")
    p.add_argument("--markdown", metavar="FILE", default=None, type=options.output_file,
                   help="write the report as Markdown (for a review)")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write the matrix as JSON")
    p.add_argument("--html", metavar="FILE", default=None, type=options.output_file,
                   help="write the matrix as one self-contained HTML page")
    baseline.add_expect_as_option(p)


def run(ns: argparse.Namespace) -> int:
    names = list(dict.fromkeys(ns.backend))
    if len(names) < 2:
        raise UsageError("needs at least two different backends: --backend A --backend B")
    dirs, loaded = load_specs(ns)
    todo = list(select(loaded.cases, ns.keyword))
    if not todo:
        if loaded.errors:
            return USAGE_ERROR
        print("buddy-harness diff: no case selected" + (f" by -k {ns.keyword!r}" if ns.keyword
              is not None else "") + ": nothing ran", file=sys.stderr)
        return NOTHING_SELECTED
    backends = Backends.open(names, kernel_src=ns.kernel_src, sanitize=ns.native_sanitize,
                             timeout=ns.timeout, log=log)
    start = time.monotonic()
    tty = sys.stderr.isatty()

    def progress(i: int, n: int) -> None:
        if tty and (i % 20 == 0 or i == n):
            print(f"\rdiff: {i}/{n} rows", end="" if i < n else "\n", file=sys.stderr,
                  flush=True)

    try:
        judges = {name: Judge.of(b, specs_roots(dirs), ns.expect_as, log, name=name)
                  for name, b in backends.opened.items()}
        m = matrix.build(todo, backends.opened, judges, progress, ns.keyword)
        absent = flags.absent_by_backend(loaded.cases, backends.opened)
        for row in m.rows:
            for name, cell in row.cells.items():
                cell.doc = flags.note(absent, name, row.case_id)
    finally:
        backends.close()
    m.seconds = time.monotonic() - start
    sys.stdout.write(report.terminal(m))
    for path, render in ((ns.markdown, report.markdown), (ns.json, report.to_json),
                         (ns.html, report.to_html)):
        if path:
            fileio.write_output(path, render(m))
    if loaded.errors:
        return USAGE_ERROR
    return 1 if m.unexpected else 0
