"""The corpus matrix: every (case, params) row run on every backend, cells and disagreements.

A cell is the verdict ``buddy-harness run`` gives (the same run, judged by the same
:class:`harness.judge.Judge`).  Whether backends *disagree* is decided on the traces, not the
verdicts: each backend's full trace (``keep_going``) is compared step by step with the first
backend's that ran the row, so a difference that the case does not check is still reported,
and two backends failing the same claim in the same way agree.

A run that stopped at a failed check is a prefix of the full trace.  When that prefix already
differs from the other side's, the full trace would differ at the same step: only a row whose
traces agree as far as they go runs the failing case again to the end (``keep_going``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends.base import CoreBackend
from harness.divergence.compare import Difference, first_difference
from harness.engine import run_case
from harness.engine.trace import Outcome
from harness.judge import Judge
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
    runs_to_end: int = 0  # cells run a second time, past their failure, for the comparison

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
            "interesting": self.interesting,
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
                "runs_to_end": sum(r.runs_to_end for r in self.rows),
                "summary": self.summary(), "rows": [r.to_json() for r in self.rows]}


def stopped_early(raw: Outcome) -> bool:
    """Whether the run ended at a failed check, short of the steps ``keep_going`` would run."""
    return raw.status == "fail" and raw.trace is not None and raw.trace.failed_path is not None


def prefix_difference(a: Outcome, b: Outcome) -> Difference | None:
    """The first difference of two runs within the steps both ran (creation included): the
    first difference of their full traces too, since each run is a prefix of its full trace."""
    ta, tb = a.trace, b.trace
    if ta is None or tb is None:
        return None
    n = min(len(ta.steps), len(tb.steps))
    if ta.create_errno == tb.create_errno and all(
            sa.observable() == sb.observable() for sa, sb in zip(ta.steps[:n], tb.steps[:n])):
        return None
    cut = [dataclasses.replace(o, trace=dataclasses.replace(o.trace, steps=o.trace.steps[:n]))
           for o in (a, b)]
    return first_difference(*cut)


def build_row(case: Case, ps: ParamSet, opened: dict[str, CoreBackend],
              judges: dict[str, Judge]) -> Row:
    row = Row(case.id, ps.id, case.title, case.file, case.pos.line)
    raws: dict[str, Outcome] = {}
    for name, backend in opened.items():
        raw = run_case(case, ps, backend)  # as run runs it: its verdict is the cell
        raw.backend = name
        row.cells[name] = Cell(*_judged(judges[name], raw))
        if raw.status != "skip":
            raws[name] = raw
    names = list(raws)
    full: dict[str, Outcome] = {}

    def to_end(name: str) -> Outcome:
        if name not in full:
            raw = raws[name]
            if stopped_early(raw):
                row.runs_to_end += 1
                raw = dataclasses.replace(run_case(case, ps, opened[name], keep_going=True),
                                          backend=name)
            full[name] = raw
        return full[name]

    for other in names[1:]:
        d = prefix_difference(raws[names[0]], raws[other])
        if d is None:
            d = first_difference(to_end(names[0]), to_end(other))
        if d is not None:
            row.differences.append(d)
    return row


def _judged(judge: Judge, raw: Outcome) -> tuple[str, str]:
    v = judge.verdict(raw)
    return v.status, v.message


def suite_rows(opened: dict[str, CoreBackend], judges: dict[str, Judge],
               keyword: str | None) -> list[Row]:
    """A row per item of a backend's suites (harness.suites); backends without it skip it."""
    rows: dict[str, Row] = {}
    raws: dict[str, dict[str, Outcome]] = {}
    kinds: dict[str, str] = {}
    for name, backend in opened.items():
        for suite in backend.suites():
            for verdict, raw in judges[name].suite(suite, keyword):
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
          judges: dict[str, Judge],
          progress: Callable[[int, int], None] | None = None,
          keyword: str | None = None) -> Matrix:
    m = Matrix(list(opened))
    for i, (case, ps) in enumerate(todo, 1):
        m.rows.append(build_row(case, ps, opened, judges))
        if progress is not None:
            progress(i, len(todo))
    m.rows += suite_rows(opened, judges, keyword)
    return m

