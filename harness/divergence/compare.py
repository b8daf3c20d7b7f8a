"""Compare two traces of the same case step by step; report the first difference."""

from __future__ import annotations

from dataclasses import dataclass

from harness.engine.checks import fmt, fmt_blocks
from harness.engine.trace import Outcome, StepTrace


@dataclass
class Difference:
    case_id: str
    params: str
    backends: tuple[str, str]
    step: str  # step path, "create", "end" or "outcome"
    line: int
    what: str  # which observable differs
    values: tuple[str, str]  # both sides, as text

    def describe(self) -> str:
        a, b = self.backends
        where = f"step {self.step}" + (f" (line {self.line})" if self.line else "")
        return (f"{self.case_id}{f'[{self.params}]' if self.params else ''}: {where}: {self.what}"
                f" differs: {a}: {self.values[0]} | {b}: {self.values[1]}")

    def to_json(self) -> dict:
        return {"step": self.step, "line": self.line, "what": self.what,
                "values": {self.backends[0]: self.values[0], self.backends[1]: self.values[1]}}


def _side(st: StepTrace) -> dict[str, str]:
    return {
        "outcome": f"error {st.errno}" if not st.ok else "ok",
        "blocks": fmt_blocks(st.blocks),
        "avail": fmt(st.avail),
        "clear_avail": fmt(st.clear_avail),
    }


def first_difference(a: Outcome, b: Outcome) -> Difference | None:
    """The first step where two runs of one case disagree on an observable, or None."""
    ta, tb = a.trace, b.trace
    names = (a.backend, b.backend)

    def diff(step: str, line: int, what: str, va: str, vb: str) -> Difference:
        return Difference(a.case_id, a.params, names, step, line, what, (va, vb))

    if ta is None or tb is None:
        if a.status != b.status:
            return diff("outcome", 0, "outcome", a.status, b.status)
        return None
    if ta.create_errno != tb.create_errno:
        return diff("create", 0, "creation", ta.create_errno or "ok", tb.create_errno or "ok")
    for sa, sb in zip(ta.steps, tb.steps):
        if sa.observable() != sb.observable():
            va, vb = _side(sa), _side(sb)
            what = next(k for k in va if va[k] != vb[k]) if va != vb else "step"
            return diff(sa.path, sa.line, what, va[what] if va != vb else sa.path,
                        vb[what] if va != vb else sb.path)
    # Each backend words its crash its own way; they agree when they die the same way.
    if ta.crash_kind != tb.crash_kind:
        return diff("crash", 0, "crash", ta.crash or "no crash", tb.crash or "no crash")
    if len(ta.steps) != len(tb.steps):
        n = min(len(ta.steps), len(tb.steps))
        return diff(f"{n + 1}", 0, "number of steps run", str(len(ta.steps)), str(len(tb.steps)))
    if a.status in ("skip",) or b.status in ("skip",):
        return None
    if (a.status == "pass") != (b.status == "pass"):
        return diff("end", 0, "verdict", f"{a.status} {a.message}", f"{b.status} {b.message}")
    return None
