"""``buddy-harness``: run, check, generate, diff, fuzz, kernel, bench, docs, cover, watch, mutate,
kunit.

Exit codes: 0 every outcome as expected, 1 some outcome not as expected,
2 a spec or usage error (one ``FILE:LINE:COL: message`` line each), 5 nothing
selected (no case matched, no spec file found), 130 interrupted.  Every option
value is checked when the command line is parsed (:mod:`harness.options`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from harness import options
from harness.backends.base import BackendUnavailable
from harness.baseline import add_expect_as_option
from harness.engine.budget import DEFAULT_CASE_BUDGET, set_case_budget
from harness.spec.position import SpecError

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
        if not d.exists():
            hint = " (run from the project root, or pass --specs DIR)" if not ns.specs else ""
            raise UsageError(f"{d}: no such directory{hint}")
    return dirs


def log(msg: str) -> None:
    """Progress for a person: stderr, so stdout stays the verb's result."""
    print(msg, file=sys.stderr, flush=True)


def load_specs(ns: argparse.Namespace):
    """(dirs, loaded) of the run's --specs; each spec error is printed, the rest still load."""
    from harness.docs.speccheck import check_cases
    from harness.spec.cache import load_paths_cached

    dirs = specs_dirs(ns)
    loaded = load_paths_cached(dirs)
    loaded.errors.extend(check_cases(loaded.cases)[0])
    for err in loaded.errors:
        print(err, file=sys.stderr)
    return dirs, loaded


def build_parser() -> argparse.ArgumentParser:
    parser = options.OneLineParser(
        prog="buddy-harness",
        description="Conformance harness for the Linux kernel's GPU buddy allocator.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("run", help="run spec cases on backends through the engine")
    add_specs_option(p)
    add_backend_options(p, default_help="default: reference, plus native for --kernel-src "
                                        "and native@VERSION for every cached kernel")
    p.add_argument("-k", dest="keyword", default=None, metavar="TEXT",
                   help="only cases whose id, title or params contain TEXT")
    p.add_argument("--json", metavar="FILE", default=None, type=options.output_file,
                   help="write results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="list only unexpected outcomes")
    add_expect_as_option(p)
    p.add_argument("-j", "--jobs", type=options.count, default=None, metavar="N",
                   help="worker processes per native backend (default: one per core)")
    p.set_defaults(module="harness.commands.run")

    p = sub.add_parser("check", help="validate spec files (schema and semantics)")
    p.add_argument("paths", nargs="+", metavar="FILE", help="spec files or directories")
    p.set_defaults(module="harness.commands.check")

    p = sub.add_parser("generate", help="render specs into generated/ pytest modules")
    p.add_argument("--specs", default="specs", metavar="DIR")
    p.add_argument("--out", default="generated", metavar="DIR", type=options.output_dir)
    p.add_argument("--check", action="store_true",
                   help="fail (exit 1) if generated/ is not what the specs render to")
    p.set_defaults(module="harness.commands.generate")

    for verb, module, text in (
        ("diff", "harness.divergence.diff_cli", "compare backends on the corpus: a matrix"),
        ("fuzz", "harness.divergence.fuzz_cli", "differential fuzzing between two backends"),
        ("bench", "harness.bench", "benchmark a backend"),
        ("docs", "harness.docs.docs_cli", "documented items, the cases citing them, drift"),
        ("cover", "harness.commands.cover", "line and branch coverage of the kernel's C"),
        ("watch", "harness.commands.watch",
         "rerun what a saved allocator or spec file affects; print changed verdicts"),
        ("mutate", "harness.mutation.mutate_cli", "mutation testing of the allocator's C"),
        ("kunit", "harness.commands.kunit",
         "a tree's own KUnit suite in user space, printed as KTAP"),
        ("export", "harness.commands.export", "cases in another form: KUnit tests in C"),
    ):
        p = sub.add_parser(verb, help=text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(module=module)

    p = sub.add_parser("kernel", help="kernel sources for the native backend")
    ksub = p.add_subparsers(dest="kernel_verb", metavar="fetch|list|patch")
    kf = ksub.add_parser("fetch", help="fetch Debian's linux-source-VERSION into the cache")
    kf.add_argument("version", type=options.kernel_version, help="e.g. 7.2, 6.12, 6.1")
    ksub.add_parser("list", help="list cached kernel trees")
    kp = ksub.add_parser("patch", help="apply a patch onto a fetched tree, cached as tree NAME")
    kp.add_argument("name", metavar="NAME", help="the new tree's name, e.g. v12.1 (then "
                    "--backend native@NAME)")
    kp.add_argument("--onto", required=True, metavar="VERSION", type=options.kernel_version,
                    help="a fetched version, e.g. 7.2")
    kp.add_argument("file", metavar="FILE", help="a git patch, an mbox, or a review reply "
                    "quoting the patch with '> '")
    p.set_defaults(module="harness.commands.kernel")
    return parser


def default_backends(ns: argparse.Namespace) -> list[str]:
    if ns.backend:
        return ns.backend
    names = ["reference"]
    if ns.kernel_src or os.environ.get("BUDDY_HARNESS_KERNEL_SRC"):
        names.append("native")
    from harness.backends.native import kernels  # no compiler or apt needed to list the cache

    cached = kernels.cached()
    names += [f"native@{c.version}" for c in cached]
    from harness.backends.rust.build import BINDING, toolchain_missing

    # The Rust binding of every cached tree that has one, where it can be built here.
    if toolchain_missing() is None:
        names += [f"rust@{c.version}" for c in cached if (c.path / BINDING).is_file()]
    return names


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        return 130
    try:
        ns = parser.parse_args(argv)
    except SystemExit as e:  # a bad option (one line printed) or --help: a code, as verbs give
        return e.code if isinstance(e.code, int) else USAGE_ERROR
    if not getattr(ns, "module", None):
        parser.print_help()
        return USAGE_ERROR
    clash = options.conflicts(ns)
    if clash:
        print(f"buddy-harness {ns.verb}: {options.printable(clash)}", file=sys.stderr)
        return USAGE_ERROR
    set_case_budget(getattr(ns, "case_budget", DEFAULT_CASE_BUDGET))
    from harness.kunit.settings import configure

    configure(getattr(ns, "kunit_seed", None), getattr(ns, "kunit_skip_slow", False),
              getattr(ns, "kunit_timeout", None))
    try:
        return importlib.import_module(ns.module).run(ns)
    except (UsageError, BackendUnavailable) as e:
        print(f"buddy-harness {ns.verb}: {options.printable(str(e))}", file=sys.stderr)
        return USAGE_ERROR
    except SpecError as e:
        print(e, file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # e.g. the disk filled while writing results
        where = f"{e.filename}: " if e.filename else ""
        print(f"buddy-harness {ns.verb}: {options.printable(f'{where}{e.strerror or e}')}",
              file=sys.stderr)
        return 1
