"""The one judge: a raw outcome and the expectation file of its backend make a verdict.

The engine (a spec case), a backend's suite (doc examples, KUnit tests, lints) and the gate's
fuzz items each produce a raw outcome: pass, fail, crash, error or skip.  The expectation file
that judges the backend turns a listed failure into a strict expected failure (``xfail``) and a
listed pass into ``xpass``.  Which file that is is decided once, by
:func:`harness.baseline.load_for` (``--expect-as`` and a tree's own version), so every verb and
the pytest plugin give one item the same verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness import baseline, expectations
from harness.backends.base import CoreBackend, Suite
from harness.engine import run_case
from harness.engine.trace import Outcome
from harness.spec.model import Case, ParamSet

EXPECTED = frozenset({"pass", "xfail", "skip"})  # verdicts that keep a run green


@dataclass
class Judge:
    """The verdicts of one backend, by the expectation file chosen for it."""

    backend: str  # the name the user gave, as the verdicts carry it
    expectations: expectations.Expectations
    file: str | None = None  # the expectation file's name; None for ``--expect-as none``

    @classmethod
    def of(cls, backend: CoreBackend, roots: list[Path], override: str | None,
           log: Callable[[str], None] | None = None, *, name: str | None = None) -> Judge:
        """The judge of an opened backend: its tree's version or ``--expect-as`` picks the file
        (and ``log`` hears which, when it is not the backend's own name)."""
        return cls(name or backend.name, baseline.load_for(backend, roots, override, log),
                   baseline.baseline_name(backend, override))

    @classmethod
    def none(cls, name: str) -> Judge:
        """A judge with no expectation file: every raw outcome is its own verdict."""
        return cls(name, expectations.Expectations(baseline.NONE))

    def verdict(self, raw: Outcome) -> Outcome:
        """The verdict on ``raw`` as a new outcome (the raw one is left as it was)."""
        status, message = expectations.apply(
            raw.status, self.expectations.reason(raw.case_id, raw.params), raw.message)
        return dataclasses.replace(raw, backend=self.backend, status=status, message=message)

    def case(self, case: Case, ps: ParamSet, backend: CoreBackend, *,
             keep_going: bool = False) -> Outcome:
        """Run one (case, params) on ``backend`` through the engine and judge it."""
        return self.verdict(run_case(case, ps, backend, keep_going=keep_going))

    def suite(self, suite: Suite, keyword: str | None = None) -> list[tuple[Outcome, Outcome]]:
        """(verdict, raw outcome) of each item of ``suite`` that ``keyword`` selects."""
        pairs = []
        for raw in suite.outcomes():
            if keyword is not None and keyword not in raw.case_id:
                continue
            raw.backend = self.backend
            pairs.append((self.verdict(raw), raw))
        return pairs


def all_expected(verdicts: Iterable[Outcome]) -> bool:
    """Whether every verdict is one the expectations predict (the run's exit 0)."""
    return all(v.status in EXPECTED for v in verdicts)
