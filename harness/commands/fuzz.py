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
    from harness.divergence import fuzz  # loads only when fuzzing

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
        return _fuzz(ns, names, opened[0], opened[1], seed, seconds)
    finally:
        for b in opened:
            b.close()


def _fuzz(ns: argparse.Namespace, names: tuple[str, str], a: CoreBackend, b: CoreBackend,
          seed: int, seconds: float | None) -> int:
    """Core-layer programs on two core backends; binding-layer programs when a real Rust
    binding is on one side (the model binding over a core backend on the other side, or
    another rust@)."""
    from harness.divergence import fuzz
    from harness.divergence.pool import Opener

    layer = fuzz.layer_of(a, b, inject=ns.inject)
    binding = layer.name == "binding"
    if ns.inject and binding:
        raise UsageError("--inject fails the C's memory allocations: it needs two core "
                         "backends (native, native@VERSION), not rust@")
    if ns.inject and not fuzz.can_inject(a, b):
        raise UsageError("--inject needs a backend that can inject allocation failures "
                         "(native, native@VERSION)")
    features = layer.features(a, b)
    budget = " and at most ".join(
        ([f"{ns.examples} examples"] if ns.examples is not None else [])
        + ([f"{seconds:g}s"] if seconds is not None else []))
    # Other processes can open only what a name alone designates (not a test's stand-in).
    portable = all(BackendRef(n).family in ("reference", "native", "rust") for n in names)
    jobs = (ns.jobs or os.cpu_count() or 1) if portable and layer.parallel else 1
    log(f"fuzz{' (binding layer)' if binding else ''}: {names[0]} vs {names[1]}, seed "
        f"{seed}, {budget}, {jobs} process{'es' if jobs > 1 else ''}, features: "
        f"{', '.join(sorted(features)) or 'none'}")
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
    text = layer.case_yaml(finding, names, seed)
    if text is None:  # an injected failure: a case needs fail_alloc where it fired
        print(finding.program.describe())
        return 1
    if ns.emit:
        import yaml

        path = _emit(ns.emit, yaml.safe_load(text)["id"], text)
        print(f"wrote {path}: {_reproduces(path, names, a, b)}")
        print(f"replay: buddy-harness run --specs {ns.emit} --backend {names[0]} "
              f"--backend {names[1]}")
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
