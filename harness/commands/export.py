"""``buddy-harness export kunit CASE-ID... [--tree V] [--patch]``: cases as KUnit tests in C.

Prints the C (helpers, one test per case and params, and a case table) or, with
``--patch``, a ``git format-patch``-style patch adding the tests to the tree's own
KUnit file, for ``git am`` in a kernel tree.  Cases that cannot be exported are
listed on stderr with the reason; ids may be shell-style patterns (``'kernel-doc.*'``).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import os
import subprocess
import sys
import time

from harness import fileio, options
from harness.commands.common import NOTHING_SELECTED, UsageError, add_specs_option, load_specs, log
from harness.kunit import export as ex
from harness.kunit import source


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="export_kind", metavar="kunit", required=True)
    k = sub.add_parser("kunit", help="core-layer cases as KUnit test cases in C")
    k.add_argument("ids", nargs="+", metavar="CASE-ID",
                   help="case ids, or patterns such as 'kernel-doc.*' ('*': every case)")
    k.add_argument("--tree", default="7.2", metavar="V",
                   help="the kernel tree the tests are for: a version, a path or a patched "
                        "tree's name (default 7.2)")
    k.add_argument("--patch", action="store_true",
                   help="print a patch adding the tests to the tree's own KUnit file")
    k.add_argument("-o", "--output", default=None, type=options.output_file, metavar="FILE",
                   help="write there instead of stdout")
    add_specs_option(k)


def run(ns: argparse.Namespace) -> int:
    from harness.trees import resolve_tree

    _dirs, loaded = load_specs(ns)
    if loaded.errors:
        return 2
    chosen = [c for c in loaded.cases if any(fnmatch.fnmatchcase(c.id, i) for i in ns.ids)]
    unknown = [i for i in ns.ids if not any(fnmatch.fnmatchcase(c.id, i) for c in loaded.cases)]
    if unknown:
        raise UsageError(f"no case matches {', '.join(repr(u) for u in unknown)}")
    tree = resolve_tree(f"native@{ns.tree}", log=log)
    t0 = time.monotonic()
    result = ex.export(chosen, tree)
    for case_id, reason in result.refused:
        log(f"not exported: {case_id}: {reason}")
    if not result.tests:
        log("buddy-harness export kunit: no exportable case among those given")
        return NOTHING_SELECTED
    if ns.patch:
        text = _patch(result, tree)
    else:
        text = result.c_source()
    if ns.output:
        fileio.write_output(ns.output, text)  # whole or not at all, never over an input
    else:
        sys.stdout.write(text)
    log(f"exported {len(result.tests)} KUnit test(s) from {len(chosen) - len(result.refused)} "
        f"case(s) for Linux {tree.version} in {time.monotonic() - t0:.2f} s; "
        f"{len(result.refused)} not exported")
    return 0


def _patch(result: ex.Export, tree) -> str:
    kf = source.find(tree)
    if kf is None:
        raise UsageError(f"{tree.root}: no KUnit file for the {tree.api} allocator to patch "
                         f"({source.FILES[tree.api][0]})")
    old = kf.path.read_text()
    try:
        new = ex.patched(old, ex.case_table(old), result)
    except ex.NotExportable as e:
        raise UsageError(f"{kf.rel}: {e}") from None
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{kf.rel}", f"b/{kf.rel}"))
    n = len(result.tests)
    cases = sorted({t.case_id for t in result.tests})
    body = "\n".join(f"  {c}" for c in cases)
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: {_author()}\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n"
            f"Subject: [PATCH] {kf.rel.rsplit('/', 1)[0]}: add {n} test(s) from buddy-harness\n"
            f"\nEach test runs one case of the buddy-harness corpus against the "
            f"allocator's C API\nand asserts what the case expects after each step, "
            f"and the invariants it\nrelies on. Cases:\n\n{body}\n---\n"
            f" {kf.rel} | {new.count(chr(10)) - old.count(chr(10))} +\n"
            f" 1 file changed\n\n{diff}-- \nbuddy-harness\n")


def _author() -> str:
    """The committer git would name here, else a placeholder to edit before sending."""
    try:
        ident = subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], capture_output=True,
                               text=True, timeout=10, env=os.environ)
        if ident.returncode == 0 and ">" in ident.stdout:
            return ident.stdout.rsplit(">", 1)[0] + ">"
    except (OSError, subprocess.SubprocessError):
        pass
    return "Your Name <you@example.org>"
