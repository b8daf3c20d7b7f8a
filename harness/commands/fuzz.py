"""``buddy-harness fuzz``: differential fuzzing of two backends; a divergence becomes a case.

Exit 0 when no divergence was found, 1 when one was (its shrunk case written
to --emit DIR or printed), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness import fileio, options
from harness.backends import registry
from harness.backends.base import CoreBackend
from harness.backends.names import BackendRef
from harness.commands.common import UsageError, add_backend_options, log
from harness.engine import run_case
from harness.spec.loader import load_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_backend_options(p, default_help="exactly two")
    p.add_argument("--seconds", type=options.seconds, default=None, metavar="N",
                   help="stop after N seconds (default 10 when --examples is not given)")
    p.add_argument("--examples", type=options.count, default=None, metavar="N",
                   help="run programs 0..N-1 of the seed: the same programs and result anywhere")
    p.add_argument("--seed", type=options.seed, default=None, metavar="N",
                   help="seed of the search (printed when chosen at random)")
    p.add_argument("--jobs", type=options.count, default=None, metavar="N",
                   help="processes to search in (default: one per core)")
    p.add_argument("--emit", metavar="DIR", default=None, type=options.output_dir,
                   help="write the shrunk divergent case into DIR (default: print it)")
    p.add_argument("--inject", action="store_true",
                   help="fail one memory allocation per program on a backend that can "
                        "(native); a divergence is printed as a program")


def run(ns: argparse.Namespace) -> int:
    from harness.divergence import fuzz  # hypothesis loads only when fuzzing

    if len(ns.backend) != 2:
        raise UsageError("needs exactly two backends: --backend A --backend B")
    names = (ns.backend[0], ns.backend[1])
    seconds = ns.seconds if ns.seconds is not None or ns.examples is not None else 10.0
    seed = ns.seed if ns.seed is not None else fuzz.new_seed()
    opened: list[CoreBackend] = []
    try:
        for name in names:  # opened separately, so a backend can be fuzzed against itself
            opened.append(registry.resolve(name, kernel_src=ns.kernel_src,
                                           sanitize=ns.native_sanitize, timeout=ns.timeout,
                                           log=log))
        if any(b.own_binding for b in opened):
            return _fuzz_binding(ns, names, opened[0], opened[1], seed, seconds)
        return _fuzz(ns, names, opened[0], opened[1], seed, seconds)
    finally:
        for b in opened:
            b.close()


def _fuzz(ns: argparse.Namespace, names: tuple[str, str], a: CoreBackend, b: CoreBackend,
          seed: int, seconds: float | None) -> int:
    from harness.divergence import emit, fuzz, inject
    from harness.divergence.pool import Opener

    if ns.inject and not inject.can_inject(a, b):
        raise UsageError("--inject needs a backend that can inject allocation failures "
                         "(native, native@VERSION)")
    features = fuzz.common_features(a, b)
    budget = " and at most ".join(
        ([f"{ns.examples} examples"] if ns.examples is not None else [])
        + ([f"{seconds:g}s"] if seconds is not None else []))
    # Other processes can open only what a name alone designates (not a test's stand-in).
    portable = all(BackendRef(n).family in ("reference", "native") for n in names)
    # Injection arms the failure in this process's own backend: one process.
    jobs = (ns.jobs or os.cpu_count() or 1) if portable and not ns.inject else 1
    log(f"fuzz: {names[0]} vs {names[1]}, seed {seed}, {budget}, {jobs} process"
        f"{'es' if jobs > 1 else ''}, features: {', '.join(sorted(features)) or 'none'}")
    tty = sys.stderr.isatty()
    last = [0.0]

    def progress(stats: fuzz.Stats) -> None:
        now = time.monotonic()
        if now - last[0] >= (0.5 if tty else 5.0):
            last[0] = now
            print(("\r" if tty else "") + stats.line(), end="" if tty else "\n",
                  file=sys.stderr, flush=True)

    finding, stats = fuzz.search(a, b, names, seed=seed, examples=ns.examples,
                                 seconds=seconds, progress=progress, jobs=jobs,
                                 opener=Opener(ns.kernel_src, ns.native_sanitize, ns.timeout),
                                 inject=ns.inject)
    if tty:
        print("", file=sys.stderr)
    log(stats.line())
    if finding is None:
        print(f"no divergence between {names[0]} and {names[1]} in {stats.examples} examples "
              f"(seed {seed}; {stats.rate():,.0f} ops/s)")
        return 0
    print(f"DIVERGENCE: {finding.divergence.describe(names)}")
    print(f"shrunk to {len(finding.program.ops)} operations in {finding.shrink_seconds:.1f}s "
          f"(seed {seed})")
    if ns.inject:  # a case needs fail_alloc where the failure fired: written by hand
        print(finding.program.describe())
        return 1
    text = emit.to_yaml(finding, names, seed=seed)
    if ns.emit:
        case_id = emit.case_dict(finding, names, seed=seed)["id"]
        path = _emit(ns.emit, case_id, text)
        print(f"wrote {path}: {_reproduces(path, names, a, b)}")
        print(f"replay: buddy-harness run --specs {ns.emit} --backend {names[0]} "
              f"--backend {names[1]}")
    else:
        sys.stdout.write(text)
    return 1


def _fuzz_binding(ns: argparse.Namespace, names: tuple[str, str], a: CoreBackend,
                  b: CoreBackend, seed: int, seconds: float | None) -> int:
    """A real Rust binding on one side: binding-layer programs (the model binding over a
    core backend on the other side, or another rust@)."""
    from harness.divergence import binding_fuzz as bf
    from harness.divergence.pool import Opener

    if ns.inject:
        raise UsageError("--inject fails the C's memory allocations: it needs two core "
                         "backends (native, native@VERSION), not rust@")
    budget = f"{ns.examples} examples" if ns.examples is not None else f"{seconds:g}s"
    # Other processes can open only what a name alone designates (not a test's stand-in).
    portable = all(n == "reference" or n.startswith(("native", "rust@")) for n in names)
    jobs = (ns.jobs or os.cpu_count() or 1) if portable else 1
    log(f"fuzz (binding layer): {names[0]} vs {names[1]}, seed {seed}, {budget}, {jobs} "
        f"process{'es' if jobs > 1 else ''}")
    found, stats = bf.search(a, b, seed=seed, examples=ns.examples,
                             seconds=None if ns.examples is not None else seconds,
                             jobs=jobs, names=names,
                             opener=Opener(ns.kernel_src, ns.native_sanitize, ns.timeout))
    log(stats.line())
    if found is None:
        print(f"no divergence between {names[0]} and {names[1]} in {stats.examples} examples "
              f"(seed {seed}; {stats.rate():,.0f} ops/s)")
        return 0
    prog, d = found
    print(f"DIVERGENCE: {d.describe(names)}")
    print(f"shrunk to {len(prog.ops)} operations (seed {seed})")
    text = bf.case_yaml(prog, d, bf.run_side(a, prog), names, seed)
    if ns.emit:
        path = _emit(ns.emit, text.split(chr(10), 1)[0].split(": ", 1)[1], text)
        print(f"wrote {path}: {_reproduces(path, names, a, b)}")
    else:
        sys.stdout.write(text)
    return 1


def _emit(directory: str, case_id: str, text: str) -> Path:
    """Write the case ``case_id`` as ``DIR/ID.yaml`` (without ``regression.``), atomically."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{case_id.removeprefix('regression.')}.yaml"
    fileio.write_output(path, text)
    return path


def _reproduces(path: Path, names: tuple[str, str], a: CoreBackend, b: CoreBackend) -> str:
    """Run the emitted case on both backends: it should pass on one and not on the other."""
    (case,) = load_file(path)
    ps = case.combinations()[0]
    got = [run_case(case, ps, backend).status for backend in (a, b)]
    verdict = "reproduces" if got.count("pass") == 1 else "does NOT reproduce"
    return f"{verdict} ({names[0]}: {got[0]}, {names[1]}: {got[1]})"
