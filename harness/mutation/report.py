"""The mutation run as terminal text, JSON and HTML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import fileio, results
from harness.mutation.mutants import Mutant
from harness.mutation.runner import KILLED, NO_COMPILE, SURVIVED, TIMED_OUT, Verdict
from harness.mutation.survivors import Entry
from harness.results.render import render

EQUIVALENT, NEEDS_FAULTS, HIDDEN = "equivalent", "needs-fault-injection", "hidden-by-shim"
OPEN = "open"  # listed with what would kill it; still a survivor
ORDER = (KILLED, SURVIVED, OPEN, NEEDS_FAULTS, HIDDEN, EQUIVALENT, NO_COMPILE, TIMED_OUT)


@dataclass
class Report:
    backend: str
    source: str  # the file's path inside the tree
    total: int  # mutants the source has
    seed: int | None
    sample: int | None
    fuzz_examples: int
    seconds: float
    rows: list[tuple[Mutant, Verdict, str]] = field(default_factory=list)  # + diff
    accepted: dict[str, Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def status(self, v: Verdict) -> str:
        entry = self.accepted.get(v.id)
        return entry.kind if v.status == SURVIVED and entry is not None else v.status

    def counts(self) -> dict[str, int]:
        c = {k: 0 for k in ORDER}
        for _m, v, _d in self.rows:
            c[self.status(v)] += 1
        return c

    def score(self) -> float:
        """Killed among compiled, non-timeout mutants not listed as equivalent."""
        c = self.counts()
        judged = c[KILLED] + c[SURVIVED] + c[OPEN] + c[NEEDS_FAULTS] + c[HIDDEN]
        return c[KILLED] / judged if judged else 1.0

    def by_fuzz(self) -> int:
        return sum(v.status == KILLED and v.by.startswith("fuzz") for _m, v, _d in self.rows)

    def summary(self) -> str:
        c = self.counts()
        scope = (f"a sample of {len(self.rows)} of {self.total} mutants (seed {self.seed})"
                 if self.sample else f"all {self.total} mutants")
        return (f"mutate {self.backend} {self.source}: {scope} in {self.seconds:.0f} s: "
                + ", ".join(f"{c[k]} {k}" for k in ORDER)
                + f"; score {self.score():.1%} (killed / compiled, not timed out, not equivalent;"
                f" {self.by_fuzz()} killed by fuzz)")

    def text(self) -> str:
        lines = []
        for m, v, diff in self.rows:
            if self.status(v) in (SURVIVED, OPEN):
                lines.append(f"{self.status(v).upper()} {m.id}: {m.describe()}"
                             f" (corpus: {v.items_run} items, fuzz: {v.fuzz_examples} programs)")
                lines.append(diff.rstrip())
        lines += self.problems
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {
            "backend": self.backend, "source": self.source, "mutants_in_source": self.total,
            "seed": self.seed, "sample": self.sample, "fuzz_examples": self.fuzz_examples,
            "seconds": round(self.seconds, 1), "counts": self.counts(),
            "score": round(self.score(), 4), "problems": self.problems,
            "mutants": [asdict(v) | {"status": self.status(v), "function": m.function,
                                     "operator": m.operator, "line": m.line,
                                     "original": m.original, "replacement": m.replacement,
                                     "diff": d}
                        | ({"reason": self.accepted[m.id].reason} if m.id in self.accepted
                           else {})
                        for m, v, d in self.rows],
        }

    def write_json(self, path: Path) -> None:
        results.write(path, "mutate", self.to_json(), indent=1)

    def write_html(self, path: Path) -> None:
        """One page rendered from the JSON's model; every value is escaped by the template."""
        fileio.write_output(path, render("mutate.html.j2", summary=self.summary(),
                                         **self.to_json()))
