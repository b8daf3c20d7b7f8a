"""What the verbs share: exit codes, the usage error, the backend, specs and budget options,
loading the specs, the default backends, progress lines.  Verbs import this module; no library
module imports a verb."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness import fileio, options
from harness.engine.budget import DEFAULT_CASE_BUDGET

USAGE_ERROR = 2
NOTHING_SELECTED = 5  # as pytest's "no tests collected"


class UsageError(Exception):
    """A mistake on the command line; the message says what to do."""


def add_backend_options(p: argparse.ArgumentParser, *, default_help: str) -> None:
    p.add_argument("--backend", action="append", default=[], metavar="NAME",
                   type=options.backend,
                   help=f"reference, native, native@VERSION, native@PATH, native@NAME (a "
                        f"tree made by `kernel patch`), or rust in the same forms (the tree's "
                        f"Rust binding); repeatable ({default_help})")
    p.add_argument("--kernel-src", metavar="PATH", default=None,
                   help="kernel tree for the plain 'native' and 'rust' backends "
                        "(default: $BUDDY_HARNESS_KERNEL_SRC)")
    p.add_argument("--native-sanitize", action="store_true",
                   help="build the native backend with ASan + UBSan")
    p.add_argument("--timeout", type=options.seconds, default=10.0, metavar="SECONDS",
                   help="per-operation limit for the native worker (default 10)")
    p.add_argument("--case-budget", type=options.seconds, default=DEFAULT_CASE_BUDGET,
                   metavar="SECONDS", help="wall-clock limit per case on every backend, past "
                   f"which it is a crash: timeout (default {DEFAULT_CASE_BUDGET:g})")
    add_kunit_options(p)


def add_kunit_options(p: argparse.ArgumentParser) -> None:
    from harness.kunit.settings import CASE_TIMEOUT, DEFAULT_SEED, seed_value

    p.add_argument("--kunit-seed", type=seed_value, default=None, metavar="SEED",
                   help="random seed of the trees' KUnit suites, as KUnit prints it "
                        f"(default 0x{DEFAULT_SEED:x}, fixed)")
    p.add_argument("--kunit-skip-slow", action="store_true",
                   help="report KUNIT_CASE_SLOW cases skipped instead of running them")
    p.add_argument("--kunit-timeout", type=options.seconds, default=None, metavar="SECONDS",
                   help=f"limit per KUnit case, past which it is a crash (default "
                        f"{CASE_TIMEOUT:g})")


def add_specs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--specs", action="append", default=[], metavar="DIR",
                   help="directory (or file) of YAML cases; repeatable; replaces the default "
                        "specs/")


def specs_dirs(ns: argparse.Namespace) -> list[Path]:
    dirs = [Path(d) for d in ns.specs] or [Path("specs")]
    for d in dirs:
        problem = fileio.stat_problem(d)
        if problem == fileio.MISSING:
            hint = " (run from the project root, or pass --specs DIR)" if not ns.specs else ""
            raise UsageError(f"{d}: no such directory{hint}")
        if problem:
            raise UsageError(f"{d}: {problem}")
    return dirs


def log(msg: str) -> None:
    """Progress for a person: stderr, so stdout stays the verb's result."""
    print(msg, file=sys.stderr, flush=True)


def load_specs(ns: argparse.Namespace):
    """(dirs, loaded) of the run's --specs; each spec error is printed, the rest still load."""
    from harness.docs.speccheck import check_cases_cached
    from harness.spec.cache import load_paths_keyed

    dirs = specs_dirs(ns)
    loaded, key = load_paths_keyed(dirs)
    loaded.errors.extend(check_cases_cached(loaded.cases, key))
    for err in loaded.errors:
        print(err, file=sys.stderr)
    return dirs, loaded


def default_backends(ns: argparse.Namespace) -> list[str]:
    if ns.backend:
        return ns.backend
    names = ["reference"]
    if ns.kernel_src or os.environ.get("BUDDY_HARNESS_KERNEL_SRC"):
        names.append("native")
    from harness.trees import kernels

    cached = kernels.cached()
    names += [f"native@{c.version}" for c in cached]
    from harness.backends.rust.build import BINDING, toolchain_missing

    # The Rust binding of every cached tree that has one, where it can be built here.
    if toolchain_missing() is None:
        names += [f"rust@{c.version}" for c in cached if (c.path / BINDING).is_file()]
    return names
