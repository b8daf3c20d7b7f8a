"""What each case did on the last run of a backend, and what the next run makes of it.

For a backend whose code runs in a worker process (``predicts``), each case's requests, the
worker's replies and the engine's raw outcome are kept per backend (``requests/`` in the
cache, sealed).  The next run of the case uses them in one of two ways:

- **Remembered.** The engine is deterministic: the same case, run by the same harness code
  on the same tree, makes the same requests and comes to the same outcome as long as every
  reply is the same.  So when nothing else it is computed from has changed (:func:`world`:
  the harness's code, the backend and its tree; the case's spec file, by path and bytes),
  the recorded requests are sent again in one write, and if the replies are byte for byte the
  recorded ones, the recorded outcome is the case's, with the output the C printed this
  time.  A reply that differs, a worker that dies, or a reply later than the worker's
  timeout or the case's budget ends the worker, and the case runs through the engine.
- **Predicted.** Otherwise its requests of the last run are sent ahead
  (:mod:`harness.backends.native.speculation`), which only saves time.

Only outcomes of cases that ran to their end on one live worker are remembered (never a
crash).  A remembered outcome keeps its trace's summary (the failed step, warnings), not its
steps: ``run`` and ``watch`` read no more and ask for remembering; what reads the steps
(``cover --pairs``) does not (``harness.parallel.run_corpus``'s ``remember``, off by default).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import integrity
from harness.backends.base import CoreBackend
from harness.cachedir import prune
from harness.engine.budget import case_budget
from harness.engine.trace import Outcome, Trace
from harness.spec.model import Case, ParamSet

Run = Callable[[Case, ParamSet, CoreBackend], Outcome]
# A case sends more requests than this only in a runaway loop: not worth keeping.
MAX_PREDICTED = 100_000
_CODE = Path(__file__).parent


@functools.cache
def _code() -> str:
    """The harness's own code (and the worker's C), as an outcome depends on it."""
    h = hashlib.sha256(sys.version.encode())
    for p in sorted(_CODE.rglob("*")):
        if p.suffix in (".py", ".c", ".h") and "__pycache__" not in p.parts:
            h.update(f"\0{p.relative_to(_CODE)}\0".encode() + p.read_bytes())
    return h.hexdigest()


def world(backend: CoreBackend) -> str:
    """What every remembered outcome of ``backend`` was computed from, besides its case."""
    caps = backend.capabilities
    parts: list[object] = [_code(), backend.name, type(backend).__qualname__, caps.version,
                           caps.api, sorted(caps.features)]
    t = backend.tree
    if t is not None:
        parts += [str(t.root), t.version, t.api, str(t.source), str(t.header),
                  sorted(t.features), t.trim_start, t.package]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def key(case: Case, ps: ParamSet) -> str:
    return f"{case.id}[{ps.id}]"


@dataclass
class LastRun:
    """Each case's record of the last run of one backend, and this run's (``seen``)."""

    name: str
    world: str
    past: dict[str, dict] = field(default_factory=dict)
    seen: dict[str, dict] = field(default_factory=dict)
    on: bool = True
    remember: bool = True  # outcomes may be remembered (else the engine runs every case)

    @classmethod
    def load(cls, backend: CoreBackend, *, remember: bool = True) -> LastRun:
        if not backend.predicts:
            return cls(backend.name, "", on=False)
        # Sealed when written: only lines this harness recorded are ever sent ahead (a
        # damaged file, whose lines could hold a newline and shift every reply, is not read).
        path = _file(backend.name)
        data: object = None
        if path.exists() and integrity.file_problem(path) is None:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                pass
        cases = data.get("cases") if isinstance(data, dict) else None
        past = {k: v for k, v in cases.items() if isinstance(v, dict) and _sent(v) is not None} \
            if isinstance(cases, dict) else {}
        return cls(backend.name, world(backend), past, remember=remember)

    def around(self, run: Run) -> Run:
        """``run`` (the engine: raw outcomes), remembered or predicted as above."""
        if not self.on:
            return run

        def recorded(case: Case, ps: ParamSet, b: CoreBackend) -> Outcome:
            k = key(case, ps)
            entry = self.past.get(k)
            prediction = _sent(entry) if entry is not None else None
            if entry is not None and self.remember and self._current(entry, case):
                out = self._replay(entry, case, ps, b)
                if out is not None:
                    self.seen[k] = entry
                    return out
                prediction = None  # the replies were not the recorded ones
            b.begin_case(prediction)
            try:
                out = run(case, ps, b)
            finally:
                rec = b.end_case()
            if not rec.held:  # the worker ran lines the case did not ask for: not its outcome
                b.begin_case(None)
                try:
                    out = run(case, ps, b)
                finally:
                    rec = b.end_case()
            if rec.sent is not None and len(rec.sent) <= MAX_PREDICTED:
                self.seen[k] = {"sent": rec.sent}
                if rec.got is not None and out.status != "crash" and case.digest:
                    self.seen[k] |= {"got": rec.got, "world": self.world, "case": case.digest,
                                     "outcome": _raw_json(out)}
            return out

        return recorded

    def _current(self, entry: dict, case: Case) -> bool:
        return (bool(case.digest) and entry.get("world") == self.world
                and entry.get("case") == case.digest and isinstance(entry.get("got"), str)
                and isinstance(entry.get("outcome"), dict))

    def _replay(self, entry: dict, case: Case, ps: ParamSet, b: CoreBackend) -> Outcome | None:
        try:
            out = _raw_outcome(entry["outcome"], case, ps, b.name)
        except (KeyError, TypeError, ValueError):
            return None
        output = b.replay(entry["sent"], entry["got"], time.monotonic() + case_budget())
        if output is None:
            return None
        out.output, out.remembered = output, True
        return out

    def save(self) -> None:
        if not self.on or not self.seen:
            return
        path = _file(self.name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"cases": self.past | self.seen}))
            os.replace(tmp, path)
            integrity.seal_file(path)
        except OSError:
            pass  # only the next run's speed depends on it
        prune(path.parent, "*.json")
        prune(path.parent, f"*.json{integrity.SUFFIX}")


def _sent(entry: dict) -> list[str] | None:
    sent = entry.get("sent")
    return sent if isinstance(sent, list) and all(isinstance(x, str) for x in sent) else None


def _raw_json(out: Outcome) -> dict:
    t = out.trace
    return {"status": out.status, "message": out.message, "file": out.file, "line": out.line,
            "create_errno": t.create_errno if t else None,
            "warnings": list(t.warnings) if t else [],
            "failed_path": t.failed_path if t else None}


def _raw_outcome(d: dict, case: Case, ps: ParamSet, name: str) -> Outcome:
    trace = Trace(case.id, ps.id, name, create_errno=d["create_errno"],
                  warnings=[str(w) for w in d["warnings"]], failed_path=d["failed_path"])
    return Outcome(case.id, ps.id, name, str(d["status"]), str(d["message"]), trace=trace,
                   file=str(d["file"]), line=int(d["line"]))


def _file(name: str) -> Path:
    from harness.trees.kernels import cache_root

    return cache_root() / "requests" / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.json"
