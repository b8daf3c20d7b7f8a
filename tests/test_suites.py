"""Suites start only when the run selects one of their items."""

from __future__ import annotations

from types import SimpleNamespace

from harness import runner, suites
from harness.judge import Judge
from harness.suites import SuiteKind


class Recorded:
    kind = "toy"

    def __init__(self) -> None:
        self.started = self.ran = False

    def start(self) -> None:
        self.started = True

    def outcomes(self):
        self.ran = True
        return []

    def close(self) -> None:
        pass


def _backend(suite: Recorded):
    return SimpleNamespace(tree=object(), suites=lambda: [suite])


def test_a_suite_no_item_of_which_the_keyword_selects_is_neither_started_nor_run(monkeypatch):
    monkeypatch.setitem(suites.KINDS, "toy", SuiteKind("toy", "toy item", frozenset({"x"}),
                                                       lambda _tree: ["toy.one", "toy.two"]))
    skipped, chosen, every = Recorded(), Recorded(), Recorded()
    runner.start_suites(_backend(skipped), "binding.")
    runner.suite_outcomes(_backend(skipped), Judge.none("x"), "binding.")
    runner.start_suites(_backend(chosen), "toy.two")
    runner.suite_outcomes(_backend(chosen), Judge.none("x"), "toy.two")
    runner.start_suites(_backend(every), None)
    assert (skipped.started, skipped.ran) == (False, False)
    assert (chosen.started, chosen.ran) == (True, True)
    assert every.started
