"""``buddy-harness``: run, check, generate, diff, fuzz, kernel, bench, docs, cover, watch, mutate,
kunit.

Exit codes: 0 every outcome as expected, 1 some outcome not as expected,
2 a spec or usage error (one ``FILE:LINE:COL: message`` line each), 5 nothing
selected (no case matched, no spec file found), 130 interrupted (SIGINT), 143 terminated
(SIGTERM).  Every option
value is checked when the command line is parsed (:mod:`harness.options`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import fileio, options, procs
from harness.backends.base import BackendUnavailable
from harness.baseline import add_expect_as_option
from harness.commands.common import (
    USAGE_ERROR,
    UsageError,
    add_backend_options,
    add_specs_option,
)
from harness.engine.budget import DEFAULT_CASE_BUDGET, set_case_budget
from harness.spec.position import SpecError


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
    p.add_argument("--fuzz", type=options.seconds, default=None, metavar="SECONDS",
                   help="also fuzz the reference against each native@/rust@ backend, SECONDS "
                        "in all, as items fuzz.core, fuzz.core.inject and fuzz.binding")
    p.add_argument("--fuzz-seed", type=options.seed, default=None, metavar="N",
                   help="seed of --fuzz (default 1, so a failure reproduces)")
    p.set_defaults(module="harness.commands.run")

    p = sub.add_parser("check", help="validate spec files (schema and semantics)")
    p.add_argument("paths", nargs="+", metavar="FILE", help="spec files or directories")
    p.add_argument("--summary", action="store_true",
                   help="also print the corpus in figures, as docs/figures.md holds them")
    p.set_defaults(module="harness.commands.check")

    p = sub.add_parser("generate", help="render specs into generated/ pytest modules")
    p.add_argument("--specs", default="specs", metavar="DIR")
    p.add_argument("--out", default="generated", metavar="DIR", type=options.output_dir)
    p.add_argument("--check", action="store_true",
                   help="fail (exit 1) if generated/ is not what the specs render to")
    p.set_defaults(module="harness.commands.generate")

    for verb, module, text in (
        ("diff", "harness.commands.diff", "compare backends on the corpus: a matrix"),
        ("fuzz", "harness.commands.fuzz", "differential fuzzing between two backends"),
        ("bench", "harness.commands.bench", "benchmark a backend"),
        ("docs", "harness.commands.docs", "documented items, the cases citing them, drift"),
        ("cover", "harness.commands.cover", "line and branch coverage of the kernel's C"),
        ("watch", "harness.commands.watch",
         "rerun what a saved allocator or spec file affects; print changed verdicts"),
        ("mutate", "harness.commands.mutate", "mutation testing of the allocator's C"),
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
    fileio.forget_inputs()
    clash = options.conflicts(ns)
    if clash:
        print(f"buddy-harness {ns.verb}: {options.printable(clash)}", file=sys.stderr)
        return USAGE_ERROR
    set_case_budget(getattr(ns, "case_budget", DEFAULT_CASE_BUDGET))

    from harness.kunit.settings import configure

    configure(getattr(ns, "kunit_seed", None), getattr(ns, "kunit_skip_slow", False),
              getattr(ns, "kunit_timeout", None))
    with procs.handling():
        return _run_verb(ns)


def _run_verb(ns: argparse.Namespace) -> int:
    from harness import leftovers
    from harness.trees.kernels import cache_root

    try:
        leftovers.sweep(cache_root())  # what runs killed on the way left in the cache
        return importlib.import_module(ns.module).run(ns)
    except (UsageError, BackendUnavailable) as e:
        print(f"buddy-harness {ns.verb}: {options.printable(str(e))}", file=sys.stderr)
        return USAGE_ERROR
    except SpecError as e:
        print(e, file=sys.stderr)
        return USAGE_ERROR
    except (fileio.InputError, fileio.OutputError) as e:
        print(f"buddy-harness {ns.verb}: {options.printable(str(e))}", file=sys.stderr)
        return 1 if isinstance(e, fileio.OutputError) and not e.usage else USAGE_ERROR
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return procs.exit_code(e)
    except BrokenPipeError:
        return 1
    except OSError as e:  # e.g. the disk filled while writing results
        where = f"{e.filename}: " if e.filename else ""
        print(f"buddy-harness {ns.verb}: {options.printable(f'{where}{e.strerror or e}')}",
              file=sys.stderr)
        return 1
