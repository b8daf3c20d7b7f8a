"""A fuzz budget in the gate: ``run --fuzz SECONDS`` adds seeded differential fuzzing, the
reference against each kernel backend of the run, as items judged like cases.

Items, per backend: ``fuzz.core`` (core-layer programs against a ``native@`` backend),
``fuzz.core.inject`` (the same with one memory allocation failed per program, where the
backend can inject), ``fuzz.binding`` (binding-layer programs against a ``rust@`` backend, the
model binding over the reference on the other side).  A pass says how many programs ran; a
failure carries the divergence, the shrunk program and the YAML case it would emit.  The seed
is fixed unless given, so a failure in CI reproduces with the same command.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.backends.base import CoreBackend
from harness.backends.names import BackendRef
from harness.engine.trace import Outcome

DEFAULT_SEED = 1
REFERENCE = "reference"


@dataclass(frozen=True)
class FuzzItem:
    id: str
    backend: str


def items_for(name: str) -> list[str]:
    """The fuzz items a backend of the run gets (none for the reference itself)."""
    family = BackendRef(name).family
    if family == "native":
        return ["fuzz.core", "fuzz.core.inject"]
    if family == "rust":
        return ["fuzz.binding"]
    return []


def run_item(item: str, name: str, backend: CoreBackend, reference: CoreBackend, *,
             seconds: float, seed: int) -> Outcome:
    """One fuzz item within ``seconds``: pass, fail (with the shrunk case) or skip."""
    if item == "fuzz.binding":
        return _binding(name, backend, reference, seconds, seed)
    return _core(item, name, backend, reference, seconds, seed)


def _core(item: str, name: str, backend: CoreBackend, reference: CoreBackend,
          seconds: float, seed: int) -> Outcome:
    from harness.divergence import emit, fuzz, inject

    names = (REFERENCE, name)
    injecting = item.endswith(".inject")
    if injecting and not inject.can_inject(reference, backend):
        return Outcome(item, "", name, "skip", f"{name} cannot fail an allocation on purpose")
    finding, stats = fuzz.search(reference, backend, names, seed=seed, seconds=seconds,
                                 inject=injecting)
    if finding is None:
        return Outcome(item, "", name, "pass", _clean(names, stats, seed))
    how = finding.program.describe() if injecting else emit.to_yaml(finding, names, seed=seed)
    return Outcome(item, "", name, "fail",
                   f"DIVERGENCE: {finding.divergence.describe(names)}; shrunk to "
                   f"{len(finding.program.ops)} operations (seed {seed}; replay with "
                   f"`buddy-harness fuzz --backend {REFERENCE} --backend {name} --seed {seed}"
                   f"{' --inject' if injecting else ''}`):\n{how}")


def _binding(name: str, backend: CoreBackend, reference: CoreBackend, seconds: float,
             seed: int) -> Outcome:
    from harness.divergence import binding_fuzz as bf

    names = (REFERENCE, name)
    found, stats = bf.search(reference, backend, seed=seed, examples=None, seconds=seconds,
                             names=names)
    if found is None:
        return Outcome("fuzz.binding", "", name, "pass", _clean(names, stats, seed))
    prog, d = found
    case = bf.case_yaml(prog, d, bf.run_side(reference, prog), names, seed)
    return Outcome("fuzz.binding", "", name, "fail",
                   f"DIVERGENCE: {d.describe(names)}; shrunk to {len(prog.ops)} operations "
                   f"(seed {seed}; replay with `buddy-harness fuzz --backend {REFERENCE} "
                   f"--backend {name} --seed {seed}`):\n{case}")


def _clean(names: tuple[str, str], stats, seed: int) -> str:
    return (f"no divergence between {names[0]} and {names[1]} in {stats.examples} programs "
            f"(seed {seed}; {stats.rate():,.0f} ops/s)")
