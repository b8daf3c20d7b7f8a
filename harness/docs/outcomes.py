"""Each case's outcomes per backend, as the documentation reports show them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.judge import Judge
from harness.runner import Backends, select, specs_roots
from harness.spec.model import Case

HELD = frozenset({"pass"})
CONTRADICTED = frozenset({"xfail", "fail", "crash"})


@dataclass
class CaseOutcome:
    """How one case (all its params) went on each backend."""

    statuses: dict[str, Counter] = field(default_factory=dict)  # backend -> status counts
    reasons: dict[str, list[str]] = field(default_factory=dict)  # backend -> xfail/fail text
    from_tree: set[str] = field(default_factory=set)  # backends built from a kernel tree

    def summary(self, backend: str) -> str:
        c = self.statuses.get(backend)
        if not c:
            return "-"
        if len(c) == 1:
            return next(iter(c))
        return ", ".join(f"{n} {s}" for s, n in sorted(c.items()))

    def verdict(self) -> str:
        """held, contradicted (fails on the C: a finding), or untested (skipped everywhere)."""
        # The kernel's own code decides (native@, or any backend built from a tree); a model
        # (the reference) speaks only where none of them ran the case.
        real = {b: c for b, c in self.statuses.items()
                if b in self.from_tree and set(c) - {"skip"}}
        seen: Counter = Counter()
        for c in (real or self.statuses).values():
            seen.update(c)
        if any(seen[s] for s in CONTRADICTED):
            return "contradicted"
        return "held" if seen["pass"] else "untested"


def run(cases: list[Case], names: list[str], dirs: list[Path], *, kernel_src: str | None,
        sanitize: bool, timeout: float, log: Callable[[str], None],
        expect_as: str | None = None) -> dict[str, CaseOutcome]:
    """Every case on every backend, judged as ``run`` judges it (``expect_as``: --expect-as)."""
    out: dict[str, CaseOutcome] = {c.id: CaseOutcome() for c in cases}
    backends = Backends.open(names, kernel_src=kernel_src, sanitize=sanitize, timeout=timeout,
                             log=log)
    try:
        for name, backend in backends.opened.items():
            judge = Judge.of(backend, specs_roots(dirs), expect_as, log, name=name)
            for case, ps in select(cases, None):
                o = judge.case(case, ps, backend)
                co = out[case.id]
                if backend.tree is not None:
                    co.from_tree.add(name)
                co.statuses.setdefault(name, Counter())[o.status] += 1
                if o.status in CONTRADICTED:
                    label = f"[{ps.id}] " if ps.id else ""
                    co.reasons.setdefault(name, []).append(label + o.message)
    finally:
        backends.close()
    return out
