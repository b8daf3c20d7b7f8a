"""``buddy-harness generate [--check]``: render specs/ into generated/ pytest modules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import options
from harness.commands.common import USAGE_ERROR, UsageError
from harness.render import render, stale, write


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--specs", default="specs", metavar="DIR")
    p.add_argument("--out", default="generated", metavar="DIR", type=options.output_dir)
    p.add_argument("--check", action="store_true",
                   help="fail (exit 1) if generated/ is not what the specs render to")


def run(ns: argparse.Namespace) -> int:
    specs, out = Path(ns.specs), Path(ns.out)
    if not specs.is_dir():
        raise UsageError(f"{specs}: no such directory (run from the project root, or pass "
                         "--specs DIR)")
    rendered = render(specs, out, Path.cwd())
    for err in rendered.errors:
        print(err, file=sys.stderr)
    if rendered.errors:
        return USAGE_ERROR
    if ns.check:
        bad = stale(rendered, out)
        for p in bad:
            print(f"{p}: stale", file=sys.stderr)
        if bad:
            print(f"{out}/ is stale: run `buddy-harness generate`", file=sys.stderr)
            return 1
        print(f"{out}/ is up to date ({len(rendered.files)} modules)")
        return 0
    changed = write(rendered, out)
    print(f"{len(rendered.files)} modules in {out}/, {len(changed)} changed")
    return 0
