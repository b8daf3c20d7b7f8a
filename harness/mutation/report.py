"""The mutation run as terminal text, JSON and HTML."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import fileio
from harness.mutation.mutants import Mutant
from harness.mutation.runner import KILLED, NO_COMPILE, SURVIVED, TIMED_OUT, Verdict
from harness.mutation.survivors import Entry

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
        fileio.write_output(path, json.dumps(self.to_json(), indent=1) + "\n")

    def write_html(self, path: Path) -> None:
        e = html.escape
        rows = []
        for m, v, d in self.rows:
            st = self.status(v)
            rows.append(
                f"<tr class='{st}'><td>{e(st)}</td><td>{m.line}</td><td>{e(m.function)}</td>"
                f"<td>{e(m.operator)}</td><td><code>{e(m.id)}</code></td>"
                f"<td>{e(v.by or (self.accepted[m.id].reason if m.id in self.accepted else ''))}"
                "</td>"
                f"<td><details><summary>diff</summary><pre>{e(d)}</pre></details></td></tr>")
        page = f"""<!doctype html><meta charset="utf-8"><title>mutation: {e(self.backend)}</title>
<style>body{{font-family:sans-serif}}td{{vertical-align:top;padding:2px 6px}}
tr.survived,tr.open{{background:#fdd}}tr.equivalent,tr.needs-fault-injection,tr.hidden-by-shim{{background:#eef}}tr.killed{{background:#efe}}
tr.timed-out,tr.did-not-compile{{background:#eee}}pre{{margin:0}}</style>
<h1>Mutation testing of {e(self.source)} on {e(self.backend)}</h1>
<p>{e(self.summary())}</p>
{"".join(f"<p>{e(p)}</p>" for p in self.problems)}
<table><tr><th>status</th><th>line</th><th>function</th><th>operator</th><th>id</th>
<th>killed by / why</th><th></th></tr>{"".join(rows)}</table>
"""
        fileio.write_output(path, page)
