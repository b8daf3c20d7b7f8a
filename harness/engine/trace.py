"""Traces: what running a case on a backend produced, step by step."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.backends.base import Block

OUTCOMES = ("pass", "fail", "xfail", "xpass", "skip", "crash", "error")


@dataclass(frozen=True)
class AllocCall:
    """An alloc step's arguments once evaluated: what the layer was asked for."""

    mode: str | None
    start: int
    end: int
    size: int
    min_block_size: int
    flags: tuple[str, ...]


@dataclass
class StepTrace:
    """One executed step (repeat bodies are flattened, with the loop index in path)."""

    path: str  # "3" or "2.1[5]" for step 1 of repeat 2, iteration 5
    verb: str
    line: int
    ok: bool
    errno: str | None = None
    blocks: list[Block] = field(default_factory=list)
    avail: int = 0
    clear_avail: int = 0
    # alloc only: the call as evaluated, and the counters just before it (cover --pairs)
    call: AllocCall | None = None
    before: tuple[int, int] = (0, 0)

    def observable(self) -> tuple:
        """What two backends must agree on for this step."""
        return (
            self.verb,
            self.ok,
            self.errno,
            tuple((b.offset, b.order, b.size) for b in self.blocks),
            self.avail,
            self.clear_avail,
        )


@dataclass
class Trace:
    case_id: str
    params: str
    backend: str
    steps: list[StepTrace] = field(default_factory=list)
    create_errno: str | None = None
    crash: str | None = None  # set when the backend died: its own words
    crash_kind: str | None = None  # bug, oom, signal, ...: what backends are compared on
    crash_step: str | None = None  # "step 3 (line 12)": the step the backend died in
    warnings: list[str] = field(default_factory=list)
    failed_path: str | None = None  # the step whose check failed first (its path)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Outcome:
    """The verdict on one (case, params, backend)."""

    case_id: str
    params: str
    backend: str
    status: str  # one of OUTCOMES
    message: str = ""
    trace: Trace | None = None
    file: str = ""
    line: int = 0
    output: str = ""  # what the code under test printed on stdout/stderr during the case
    remembered: bool = False  # the last run's outcome, the replies being the same (lastrun.py)

    def to_json(self) -> dict:
        out = {
            "case": self.case_id,
            "params": self.params,
            "backend": self.backend,
            "outcome": self.status,
            "message": self.message,
        }
        if self.output:
            out["output"] = self.output
        return out
