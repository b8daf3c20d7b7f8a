"""Run a loaded corpus on opened backends: the loop shared by ``run`` and ``diff``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness import expectations
from harness.backends.base import CoreBackend, Suite
from harness.backends.registry import resolve
from harness.engine.trace import Outcome
from harness.judge import EXPECTED as EXPECTED  # where the verbs and tests read it
from harness.judge import Judge
from harness.spec.model import Case, ParamSet
from harness.suites import KINDS


def select(cases: list[Case], keyword: str | None) -> Iterator[tuple[Case, ParamSet]]:
    for case in cases:
        for ps in case.combinations():
            if keyword is None or any(keyword in s for s in (case.id, case.title, ps.id)):
                yield case, ps


@dataclass
class Backends:
    """Opened backends by the name the user gave; closed together (workers end)."""

    opened: dict[str, CoreBackend] = field(default_factory=dict)

    @classmethod
    def open(cls, names: list[str], *, kernel_src: str | None, sanitize: bool,
             timeout: float, log: Callable[[str], None]) -> Backends:
        self = cls()
        try:
            for name in names:
                if name not in self.opened:
                    self.opened[name] = resolve(name, kernel_src=kernel_src, sanitize=sanitize,
                                                timeout=timeout, log=log)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for b in self.opened.values():
            b.close()
        self.opened.clear()


def run_one(case: Case, ps: ParamSet, backend: CoreBackend, exp: expectations.Expectations,
            *, keep_going: bool = False) -> Outcome:
    """Engine verdict with the expectations ``exp`` applied (:class:`harness.judge.Judge`)."""
    return Judge(backend.name, exp).case(case, ps, backend, keep_going=keep_going)


def wanted_suites(backend: CoreBackend, keyword: str | None) -> list[Suite]:
    """The backend's suites with an item ``keyword`` selects (all without one): a suite
    nothing selects is neither built nor run."""
    suites = backend.suites()
    if keyword is None or backend.tree is None:
        return suites
    return [s for s in suites
            if any(keyword in i for i in KINDS[s.kind].collect(backend.tree))]


def start_suites(backend: CoreBackend, keyword: str | None = None) -> None:
    """Let a backend's suites build and run beside the cases."""
    for suite in wanted_suites(backend, keyword):
        suite.start()


def suite_outcomes(backend: CoreBackend, judge: Judge,
                   keyword: str | None) -> list[tuple[Outcome, Outcome]]:
    """(verdict, raw outcome) of each item of the suites a backend contributes (its tree's doc
    examples, KUnit tests, lints: harness.suites), judged by ``judge``."""
    return [pair for suite in wanted_suites(backend, keyword)
            for pair in judge.suite(suite, keyword)]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.status for o in outcomes)
    return {k: counts.get(k, 0) for k in ("pass", "fail", "xfail", "xpass", "skip", "crash",
                                          "error")} | {"total": len(outcomes)}


def summary_line(s: dict[str, int]) -> str:
    """Ends with the plain 'N passed, N failed' form CI logs are read for."""
    extra = ", ".join(f"{s[k]} {k}" for k in ("xfail", "xpass", "crash", "error") if s[k])
    failed = s["fail"] + s["xpass"] + s["crash"] + s["error"]
    head = f"{s['pass']} passed, {failed} failed, {s['skip']} skipped"
    return head + (f" ({extra})" if extra else "")


def specs_roots(paths: list[Path]) -> list[Path]:
    return [p if p.is_dir() else p.parent for p in paths]
