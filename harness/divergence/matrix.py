"""The corpus matrix: every (case, params) row run on every backend, cells and disagreements.

A cell is the verdict ``buddy-harness run`` would give (expectations applied).
Whether backends *disagree* is decided on the traces, not the verdicts: each
backend's full trace (``keep_going``) is compared step by step with the first
backend's that ran the row, so a difference that the case does not check is
still reported, and two backends failing the same claim in the same way agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness import expectations
from harness.backends.base import CoreBackend
from harness.divergence.compare import Difference, first_difference
from harness.engine import run_case
from harness.engine.trace import Outcome
from harness.runner import judge_suite
from harness.spec.model import Case, ParamSet
from harness.suites import KINDS

FAILING = frozenset({"fail", "xfail", "crash", "error"})  # "nobody meets this claim"
UNEXPECTED = frozenset({"fail", "xpass", "crash", "error"})


@dataclass
class Cell:
    status: str
    message: str = ""
    doc: str = ""  # set when this backend's tree lacks the case's quote

    def to_json(self) -> dict:
        return {"status": self.status, "message": self.message} | (
            {"doc": self.doc} if self.doc else {})


@dataclass
class Row:
    case_id: str
    params: str
    title: str
    file: str
    line: int
    cells: dict[str, Cell] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.case_id}[{self.params}]" if self.params else self.case_id

    @property
    def ran(self) -> dict[str, Cell]:
        """Cells of the backends that ran the row (not skipped)."""
        return {b: c for b, c in self.cells.items() if c.status != "skip"}

    @property
    def disagree(self) -> bool:
        return bool(self.differences)

    @property
    def all_fail(self) -> bool:
        ran = self.ran
        return bool(ran) and all(c.status in FAILING for c in ran.values())

    @property
    def unexpected(self) -> bool:
        """Backends disagree and the expectations do not account for it."""
        return self.disagree and any(c.status in UNEXPECTED for c in self.cells.values())

    @property
    def interesting(self) -> bool:
        statuses = {c.status for c in self.cells.values()}
        if any(c.doc for c in self.cells.values()):
            return True
        return self.disagree or len(statuses) > 1 or not statuses <= {"pass", "skip"}

    def to_json(self) -> dict:
        return {
            "case": self.case_id,
            "params": self.params,
            "title": self.title,
            "file": self.file,
            "line": self.line,
            "cells": {b: c.to_json() for b, c in self.cells.items()},
            "disagree": self.disagree,
            "unexpected": self.unexpected,
            "all_fail": self.all_fail,
            "differences": [
                {"backends": list(d.backends)} | d.to_json() for d in self.differences
            ],
        }


@dataclass
class Matrix:
    backends: list[str]
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def disagreements(self) -> list[Row]:
        return [r for r in self.rows if r.disagree]

    @property
    def unexpected(self) -> list[Row]:
        return [r for r in self.rows if r.unexpected]

    @property
    def all_fail(self) -> list[Row]:
        return [r for r in self.rows if r.all_fail]

    def counts(self, backend: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            s = r.cells[backend].status
            out[s] = out.get(s, 0) + 1
        return out

    def summary(self) -> dict:
        return {
            "rows": len(self.rows),
            "backends": {b: self.counts(b) for b in self.backends},
            "all_fail": [r.key for r in self.all_fail],
            "disagree": [r.key for r in self.disagreements],
            "unexpected": [r.key for r in self.unexpected],
        }

    def to_json(self) -> dict:
        return {"backends": self.backends, "seconds": round(self.seconds, 3),
                "summary": self.summary(), "rows": [r.to_json() for r in self.rows]}


def run_cell(case: Case, ps: ParamSet, backend: CoreBackend,
             exp: expectations.Expectations) -> tuple[Outcome, Outcome]:
    """(verdict, full trace): the verdict as ``run`` gives it, the trace run to the end.

    A passing run has no failure to continue past, so it serves as both.
    """
    full = run_case(case, ps, backend, keep_going=True)
    verdict = full if full.status == "pass" else run_case(case, ps, backend)
    verdict.status, verdict.message = expectations.apply(
        verdict.status, exp.reason(case.id, ps.id), verdict.message)
    return verdict, full


def build_row(case: Case, ps: ParamSet, opened: dict[str, CoreBackend],
              exps: dict[str, expectations.Expectations]) -> Row:
    row = Row(case.id, ps.id, case.title, case.file, case.pos.line)
    traces: dict[str, Outcome] = {}
    for name, backend in opened.items():
        verdict, full = run_cell(case, ps, backend, exps[name])
        full.backend = name
        row.cells[name] = Cell(verdict.status, verdict.message)
        if verdict.status != "skip":
            traces[name] = full
    names = list(traces)
    for other in names[1:]:
        d = first_difference(traces[names[0]], traces[other])
        if d is not None:
            row.differences.append(d)
    return row


def suite_rows(opened: dict[str, CoreBackend], exps: dict[str, expectations.Expectations],
               keyword: str | None) -> list[Row]:
    """A row per item of a backend's suites (harness.suites); backends without it skip it."""
    rows: dict[str, Row] = {}
    raws: dict[str, dict[str, Outcome]] = {}
    kinds: dict[str, str] = {}
    for name, backend in opened.items():
        for suite in backend.suites():
            for verdict, raw in judge_suite(name, suite, exps[name], keyword):
                kinds[verdict.case_id] = suite.kind
                row = rows.setdefault(verdict.case_id, Row(
                    verdict.case_id, "", KINDS[suite.kind].label, verdict.file, verdict.line))
                row.cells[name] = Cell(verdict.status, verdict.message)
                raws.setdefault(verdict.case_id, {})[name] = raw
    for cid, row in rows.items():
        for name in opened:
            row.cells.setdefault(name, Cell("skip", f"{name} has no {KINDS[kinds[cid]].label}"
                                                    f" {cid}"))
        ran = list(raws[cid].values())
        for other in ran[1:]:
            d = first_difference(ran[0], other)
            if d is not None:
                row.differences.append(d)
        row.cells = {n: row.cells[n] for n in opened}
    return list(rows.values())


def build(todo: list[tuple[Case, ParamSet]], opened: dict[str, CoreBackend],
          exps: dict[str, expectations.Expectations],
          progress: Callable[[int, int], None] | None = None,
          keyword: str | None = None) -> Matrix:
    m = Matrix(list(opened))
    for i, (case, ps) in enumerate(todo, 1):
        m.rows.append(build_row(case, ps, opened, exps))
        if progress is not None:
            progress(i, len(todo))
    m.rows += suite_rows(opened, exps, keyword)
    return m

