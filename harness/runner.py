"""Run a loaded corpus on opened backends: the loop shared by ``run`` and ``diff``."""

from __future__ import annotations

import threading
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
             timeout: float, log: Callable[[str], None],
             first: Callable[[CoreBackend], None] | None = None) -> Backends:
        """Each backend of ``names``; ``first`` is called with the first as soon as it is
        open (its suites start there, while the others open)."""
        self = cls()
        try:
            for name in names:
                if name not in self.opened:
                    self.opened[name] = resolve(name, kernel_src=kernel_src, sanitize=sanitize,
                                                timeout=timeout, log=log)
                    if first is not None and len(self.opened) == 1:
                        first(self.opened[name])
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for b in self.opened.values():
            b.close()
        self.opened.clear()


class Opening:
    """:meth:`Backends.open` on a thread of its own, so the allocators build (gcc, on another
    core) while this thread loads the corpus, and the first backend's suites (``first``) start
    as soon as it is built.  What the opening says is held until
    :meth:`result`, then said in order, so the output reads as if it had run after the
    loading; so are its errors, raised there."""

    def __init__(self, names: list[str], *, kernel_src: str | None, sanitize: bool,
                 timeout: float, log: Callable[[str], None],
                 first: Callable[[CoreBackend], None] | None = None) -> None:
        self._log = log
        self._held: list[str] | None = []
        self._lock = threading.Lock()
        self._opened: Backends | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._open, args=(names, kernel_src, sanitize, timeout, first), daemon=True,
            name="open-backends")
        self._thread.start()

    def _open(self, names: list[str], kernel_src: str | None, sanitize: bool,
              timeout: float, first: Callable[[CoreBackend], None] | None) -> None:
        try:
            self._opened = Backends.open(names, kernel_src=kernel_src, sanitize=sanitize,
                                         timeout=timeout, log=self._say, first=first)
        except BaseException as e:  # handed to the caller's thread, which raises it
            self._error = e

    def _say(self, msg: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(msg)
                return
        self._log(msg)

    def result(self) -> Backends:
        """The opened backends (waiting for them), after what the opening said so far."""
        with self._lock:
            held, self._held = self._held or [], None
        for msg in held:
            self._log(msg)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        return self._opened

    def abandon(self) -> None:
        """The caller failed before taking the backends: close whatever gets opened."""
        with self._lock:
            self._held = []  # nothing of it is said: the run ended before it
        self._thread.join()
        if self._opened is not None:
            self._opened.close()


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
