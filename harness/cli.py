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

from harness import prelaunch

# The rest of the CLI's imports are made in the functions that use them: ``main`` first
# starts the compile of an edited allocator (harness.prelaunch), then they load.

# Every verb, in the order --help lists them: (verb, module, help).  The parser declares them
# all from this table, but only the verb on the command line has its module imported to add
# its options (``add_arguments``): a run starts without importing every other verb.
VERBS: tuple[tuple[str, str, str], ...] = (
    ("run", "harness.commands.run", "run spec cases on backends through the engine"),
    ("check", "harness.commands.check", "validate spec files (schema and semantics)"),
    ("generate", "harness.commands.generate", "render specs into generated/ pytest modules"),
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
    ("kernel", "harness.commands.kernel", "kernel sources for the native backend"),
)


def chosen_verb(argv: list[str]) -> str | None:
    """The verb argparse will dispatch to: the first argument that is not an option (the
    top-level parser has no option taking a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with ``argv``, only its verb's options are declared (every verb is,
    with its help line).  Without, every verb's are."""
    from harness import options

    wanted = chosen_verb(argv) if argv is not None else None
    parser = options.OneLineParser(
        prog="buddy-harness",
        description="Conformance harness for the Linux kernel's GPU buddy allocator.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module, text in VERBS:
        p = sub.add_parser(verb, help=text)
        if argv is None or verb == wanted:
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # An edited allocator starts compiling while the verb's modules load: a guess that
    # changes nothing the verb does or says; what the verb did not take ends with it.
    try:
        try:
            prelaunch.start(chosen_verb(args), args)
        except KeyboardInterrupt:  # as while the parser is built: nothing has run yet
            return 130
        return _main(args)
    finally:
        prelaunch.finish()


def _main(args: list[str]) -> int:
    try:
        from harness import fileio, options, procs
        from harness.commands.common import USAGE_ERROR
        from harness.engine.budget import DEFAULT_CASE_BUDGET, set_case_budget

        parser = build_parser(args)
    except KeyboardInterrupt:
        return 130
    try:
        ns = parser.parse_args(args)
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
    from harness import fileio, leftovers, options, procs
    from harness.backends.base import BackendUnavailable
    from harness.commands.common import USAGE_ERROR, UsageError
    from harness.spec.position import SpecError
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
