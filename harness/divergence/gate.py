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

from collections.abc import Callable

from harness.backends.base import CoreBackend
from harness.backends.names import BackendRef
from harness.backends.reference import ReferenceBackend
from harness.engine.trace import Outcome
from harness.judge import Judge

DEFAULT_SEED = 1
REFERENCE = "reference"


def items_for(name: str) -> list[str]:
    """The fuzz items a backend of the run gets (none for the reference itself)."""
    family = BackendRef(name).family
    if family == "native":
        return ["fuzz.core", "fuzz.core.inject"]
    if family == "rust":
        return ["fuzz.binding"]
    return []


def known_ids(name: str) -> set[tuple[str, str]]:
    """The fuzz items of a backend as the (id, params) an expectation file may name."""
    return {(i, "") for i in items_for(name)}


class GateFuzz:
    """``--fuzz SECONDS``: the budget shared by every fuzz item of the run, judged like cases."""

    def __init__(self, seconds: float | None, seed: int | None, names: list[str],
                 log: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.seed = DEFAULT_SEED if seed is None else seed
        count = sum(len(items_for(n)) for n in names)
        self.share = (seconds or 0) / max(count, 1)
        self.reference: CoreBackend | None = None
        if seconds is not None:
            log(f"fuzz: {seconds:g} s over {count} item(s), seed {self.seed} (--fuzz-seed N)")

    def outcomes(self, backend: CoreBackend, judge: Judge,
                 keyword: str | None) -> list[Outcome]:
        """The verdicts of the fuzz items of ``judge``'s backend that ``keyword`` selects."""
        if self.seconds is None:
            return []
        out, name = [], judge.backend
        for item in items_for(name):
            if keyword is not None and keyword not in item:
                continue
            if self.reference is None:
                self.reference = ReferenceBackend()
            out.append(judge.verdict(run_item(item, name, backend, self.reference,
                                              seconds=self.share, seed=self.seed)))
        return out


def run_item(item: str, name: str, backend: CoreBackend, reference: CoreBackend, *,
             seconds: float, seed: int) -> Outcome:
    """One fuzz item within ``seconds``: pass, fail (with the shrunk case) or skip."""
    from harness.divergence import fuzz

    names = (REFERENCE, name)
    injecting = item.endswith(".inject")
    if injecting and not fuzz.can_inject(reference, backend):
        return Outcome(item, "", name, "skip", f"{name} cannot fail an allocation on purpose")
    finding, stats = fuzz.search(reference, backend, names, seed=seed, seconds=seconds,
                                 inject=injecting)
    if finding is None:
        return Outcome(item, "", name, "pass", _clean(names, stats, seed))
    layer = fuzz.layer_of(reference, backend, inject=injecting)
    how = layer.case_yaml(finding, names, seed) or finding.program.describe()
    return Outcome(item, "", name, "fail",
                   f"DIVERGENCE: {finding.divergence.describe(names)}; shrunk to "
                   f"{len(finding.program.ops)} operations (seed {seed}; replay with "
                   f"`buddy-harness fuzz --backend {REFERENCE} --backend {name} --seed {seed}"
                   f"{' --inject' if injecting else ''}`):\n{how}")


def _clean(names: tuple[str, str], stats, seed: int) -> str:
    return (f"no divergence between {names[0]} and {names[1]} in {stats.examples} programs "
            f"(seed {seed}; {stats.rate():,.0f} ops/s)")
