"""Run one case (one params combination) on one backend: trace, then verdict.

The executor walks the steps, records a :class:`StepTrace` per executed step,
checks the step's expectations and the invariants of SPEC_FORMAT.md after
every step, then frees whatever is still live and checks that nothing leaked.
The first failure is the verdict; with ``keep_going`` the rest of the case
still runs so that two backends' traces can be compared to the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.backends.base import FAIL_ALLOC, BackendCrash, BuddyError, CoreBackend
from harness.engine import faults
from harness.engine.budget import BudgetedBackend, case_budget
from harness.engine.checks import CheckFailure, LiveSet, check_expect, fmt
from harness.engine.session import BindingSession, CoreSession, Session
from harness.engine.trace import AllocCall, Outcome, StepTrace, Trace
from harness.spec.expr import Expr
from harness.spec.model import (
    Alloc,
    Case,
    Check,
    Expect,
    Free,
    ParamSet,
    Repeat,
    ResetClear,
    Step,
    Trim,
    verb_of,
)
from harness.spec.position import SpecError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class _Held:
    token: Any
    blocks: list


@dataclass
class _Failure:
    path: str
    line: int
    message: str
    state: str  # the allocator's counters when the check failed


@dataclass
class _Run:
    case: Case
    session: Session
    live: LiveSet
    env: dict[str, int]
    keep_going: bool
    trace: Trace
    held: dict[str, _Held] = field(default_factory=dict)
    anonymous: list[_Held] = field(default_factory=list)
    failure: _Failure | None = None
    repeat_vars: set[str] = field(default_factory=set)
    injector: faults.Injector | None = None

    # -- evaluation ---------------------------------------------------------
    def ev(self, expr: Expr, *, signed: bool = False) -> int:
        return expr.eval(self.env, signed=signed)

    def name(self, template: str) -> str:
        """Substitute ``{var}`` for every repeat variable in scope."""
        return _PLACEHOLDER.sub(
            lambda m: str(self.env[m[1]]) if m[1] in self.repeat_vars else m[0], template)

    # -- failures -----------------------------------------------------------
    def fail(self, path: str, line: int, message: str) -> None:
        if self.failure is None:
            self.trace.failed_path = path
            avail, clear = session_counters(self.session)
            self.failure = _Failure(path, line, message,
                                    f"[state: avail={fmt(avail)}, clear_avail={fmt(clear)}, "
                                    f"live blocks={len(self.live.starts)}]")
        if not self.keep_going:
            raise _Stop

    def fail_hard(self, path: str, line: int, message: str) -> None:
        """A failure after which the allocator's state is unknown: stop even with keep_going."""
        self.fail(path, line, message)
        raise _Stop

    # -- steps --------------------------------------------------------------
    def run_steps(self, steps: list[Step], prefix: str = "") -> None:
        for idx, step in enumerate(steps, 1):
            self.run_step(step, f"{prefix}{idx}")

    def run_step(self, step: Step, path: str) -> StepTrace | None:
        if isinstance(step, Repeat):
            self.run_repeat(step, path)
            return None
        avail_before, _ = self.session.counters()
        st = self.attempt(step, path)
        if st is not None:
            self.judge(step, st, avail_before, path)
        return st

    def attempt(self, step: Step, path: str) -> StepTrace | None:
        """Execute one step and record it; None if the case itself made it impossible."""
        st = StepTrace(path=path, verb=verb_of(step), line=step.pos.line, ok=True)
        self.trace.crash_step = f"step {path} (line {step.pos.line})"
        broken: str | None = None
        nth = faults.arm(self.injector, getattr(step, "fail_alloc", None), self.ev)
        before = st.before = self.session.counters()
        try:
            self.execute(step, st)
        except BuddyError as e:
            st.ok, st.errno = False, e.errno
        except _CaseError as e:
            self.fail(path, step.pos.line, str(e))
            return None
        except CheckFailure as e:  # the backend returned blocks that break an invariant
            broken = str(e)
        except (BackendCrash, SpecError):
            raise
        except Exception as e:  # a malformed result or a backend bug: this case fails
            self.fail_hard(path, step.pos.line, unexpected(e))
        finally:
            fired = faults.fired(self.injector, nth)
        st.avail, st.clear_avail = self.session.counters()
        self.trace.steps.append(st)
        if broken is not None:
            self.fail(path, step.pos.line, broken)
        if nth:
            problem = faults.judge_step(nth, fired, st.errno, before,
                                        (st.avail, st.clear_avail))
            if problem:
                self.fail(path, step.pos.line, problem)
        return st

    def execute(self, step: Step, st: StepTrace) -> None:
        s = self.session
        if isinstance(step, Alloc):
            chunk = self.env["chunk_size"]
            name = self.name(step.name) if step.name else None
            if name in self.held:
                raise _CaseError(f"name '{name}' is still held; free it before reusing it")
            st.call = AllocCall(
                mode=step.mode,
                start=self.ev(step.start) if step.start is not None else 0,
                end=self.ev(step.end) if step.end is not None else 0,
                size=self.ev(step.size),
                min_block_size=self.ev(step.min_block_size) if step.min_block_size else chunk,
                flags=tuple(step.flags),
            )
            c = st.call
            token, blocks = s.alloc(mode=c.mode, start=c.start, end=c.end, size=c.size,
                                    min_block_size=c.min_block_size, flags=step.flags)
            st.blocks = list(blocks)
            held = _Held(token, st.blocks)
            if name:
                self.held[name] = held
            else:
                self.anonymous.append(held)
            self.live.add(st.blocks, s.base)
        elif isinstance(step, Free):
            held = self.take(step.name)
            s.free(held.token, step.cleared)
            self.live.remove(held.blocks, s.base)
        elif isinstance(step, Trim):
            name = self.name(step.name)
            held = self.lookup(name)
            start = self.ev(step.start) if step.start is not None else None
            new = s.trim(held.token, self.ev(step.size), start)
            self.live.remove(held.blocks, s.base)
            held.blocks = list(new)
            st.blocks = held.blocks
            self.live.add(held.blocks, s.base)
        elif isinstance(step, ResetClear):
            s.reset_clear(step.is_clear)
        elif isinstance(step, Check):
            pass  # judged in judge()

    def lookup(self, name: str) -> _Held:
        if name not in self.held:
            raise _CaseError(f"no live allocation named '{name}' (its alloc failed or it was "
                             "freed already)")
        return self.held[name]

    def take(self, template: str) -> _Held:
        name = self.name(template)
        held = self.lookup(name)
        del self.held[name]
        return held

    def judge(self, step: Step, st: StepTrace, avail_before: int, path: str) -> None:
        line = step.pos.line
        try:
            if isinstance(step, Check):
                self.check_state(step)
            exp = step.expect or Expect(pos=step.pos)
            errno = st.errno
            if errno and exp.error is None and getattr(step, "fail_alloc", None) is not None:
                exp, errno = faults.outcome_unstated(exp), None
            check_expect(exp, self.ev, errno=errno, blocks=st.blocks, avail=st.avail,
                         clear_avail=st.clear_avail, avail_before=avail_before)
        except CheckFailure as e:
            self.fail(path, line, str(e))
        try:
            self.live.check_counters(st.avail, st.clear_avail)
        except CheckFailure as e:
            self.fail(path, line, str(e))
        warnings = self.session.warnings()
        if warnings:
            self.trace.warnings.extend(warnings)
            self.fail(path, line, "kernel warning: " + "; ".join(warnings))

    def check_state(self, step: Check) -> None:
        avail, clear = self.session.counters()
        actual = {"avail": avail, "clear_avail": clear, "size": self.env["size"],
                  "chunk_size": self.env["chunk_size"], "base_offset": self.env["base_offset"]}
        for key, expr in step.values.items():
            if key in ("size", "chunk_size", "base_offset"):  # what the allocator says
                actual[key] = getattr(self.session, key)()
            if actual[key] != self.ev(expr):
                raise CheckFailure(f"check: expected {key} {fmt(self.ev(expr))}, "
                                   f"got {fmt(actual[key])}")

    def run_repeat(self, step: Repeat, path: str) -> None:
        outer = self.env.get(step.var)
        shadowed = step.var in self.repeat_vars
        self.repeat_vars.add(step.var)
        avail_before, _ = self.session.counters()
        if step.count is not None:
            for i in range(self.ev(step.count)):
                self.env[step.var] = i
                self.run_steps(step.steps, f"{path}[{i}].")
        else:
            limit = self.ev(step.max) if step.max is not None else self.case.limits.until
            done = None
            for i in range(limit):
                self.env[step.var] = i
                ended = self.run_until_iteration(step, f"{path}[{i}].")
                if ended:
                    done = i
                    break
            if done is None:
                self.fail(path, step.pos.line,
                          f"repeat: {limit} iterations ran without {step.until}")
            elif step.expect is not None and step.expect.iterations is not None:
                want = self.ev(step.expect.iterations)
                if done != want:
                    self.fail(path, step.pos.line,
                              f"repeat: expected {want} whole iterations before {step.until}, "
                              f"got {done}")
        if step.expect is not None:
            self.judge_repeat(step, path, avail_before)
        if not shadowed:
            self.repeat_vars.discard(step.var)
        if outer is None:
            self.env.pop(step.var, None)
        else:
            self.env[step.var] = outer

    def judge_repeat(self, step: Repeat, path: str, avail_before: int) -> None:
        """Counter expectations on a whole repeat, checked once it ends."""
        exp = step.expect
        assert exp is not None
        avail, clear = self.session.counters()
        counters_only = Expect(pos=exp.pos, avail=exp.avail, avail_delta=exp.avail_delta,
                               clear_avail=exp.clear_avail)
        try:
            check_expect(counters_only, self.ev, errno=None, blocks=[], avail=avail,
                         clear_avail=clear, avail_before=avail_before)
        except CheckFailure as e:
            self.fail(path, step.pos.line, f"after repeat: {e}")

    def run_until_iteration(self, step: Repeat, prefix: str) -> bool:
        """One iteration of repeat-until; True when a step failed with the awaited errno."""
        for idx, inner in enumerate(step.steps, 1):
            if isinstance(inner, Repeat):
                self.run_repeat(inner, f"{prefix}{idx}")
                continue
            avail_before, _ = self.session.counters()
            st = self.attempt(inner, f"{prefix}{idx}")
            if st is None:
                continue
            if st.errno == step.until and (inner.expect is None or inner.expect.error is None):
                try:
                    self.live.check_counters(st.avail, st.clear_avail)
                except CheckFailure as e:
                    self.fail(st.path, inner.pos.line, str(e))
                return True
            self.judge(inner, st, avail_before, st.path)
        return False

    # -- teardown -----------------------------------------------------------
    def teardown(self) -> None:
        # Record the first failure but go on, so the allocator is always finalised.
        self.keep_going = True
        for held in list(self.held.values()) + self.anonymous:
            try:
                self.session.free(held.token, False)
            except (BackendCrash, SpecError):
                raise
            except Exception as e:
                self.fail("teardown", 0, f"freeing what the case still held: {unexpected(e)}")
            self.live.remove(held.blocks, self.session.base)
        self.held.clear()
        self.anonymous.clear()
        avail, clear = self.session.counters()
        if avail != self.live.mm_size:
            self.fail("teardown", 0, f"leak: after freeing everything avail is {fmt(avail)}, "
                      f"expected {fmt(self.live.mm_size)}")
        warnings = self.session.close()
        if warnings:
            self.trace.warnings.extend(warnings)
            self.fail("teardown", 0, "kernel warning at teardown: " + "; ".join(warnings))


class _Stop(Exception):
    pass


def unexpected(e: Exception) -> str:
    """A backend exception outside its contract (BuddyError, BackendCrash), as a verdict."""
    return f"the backend raised {type(e).__name__}: {e} (only BuddyError or BackendCrash " \
           "are allowed)"


class _CaseError(Exception):
    """The case asked for something impossible at run time (e.g. an unknown name)."""


def case_env(case: Case, params: ParamSet) -> dict[str, int]:
    return {name: expr.eval({}) for name, expr in params.values.items()}


def run_case(
    case: Case,
    params: ParamSet,
    backend: CoreBackend,
    *,
    keep_going: bool = False,
    budget: float | None = None,
) -> Outcome:
    """Run ``case`` with ``params`` on ``backend`` and judge it (pass/fail/skip/crash/error).

    ``budget``: wall-clock seconds before the case is a ``crash: timeout`` (default: the
    process's setting, :func:`harness.engine.budget.case_budget`)."""
    name = backend.name
    trace = Trace(case.id, params.id, name)
    out = Outcome(case.id, params.id, name, "pass", trace=trace, file=case.file,
                  line=case.pos.line)
    reason = backend.skip_reason(case.layer)
    if reason:
        out.status, out.message = "skip", reason
        return out
    missing = backend.capabilities.missing(case.requires)
    if missing:
        out.status = "skip"
        out.message = (f"{name} (kernel {backend.capabilities.version}) lacks "
                       f"{', '.join(missing)}")
        if missing == [FAIL_ALLOC]:
            out.message = f"{name} {faults.SKIP_REASON}"
        return out
    backend.take_output()  # what ran before this case printed is not this case's
    try:
        return _judge(case, params, backend, keep_going, budget, out)
    finally:
        out.output = backend.take_output()


def _judge(case: Case, params: ParamSet, backend: CoreBackend, keep_going: bool,
           budget: float | None, out: Outcome) -> Outcome:
    trace = out.trace
    assert trace is not None
    try:
        env = case_env(case, params)
        b = case.buddy
        env["size"] = b.size.eval(env)
        env["chunk_size"] = b.chunk_size.eval(env)
        env["base_offset"] = b.base_offset.eval(env) if b.base_offset is not None else 0
    except SpecError as e:
        out.status, out.message = "error", str(e)
        return out
    try:
        timed = BudgetedBackend(backend, budget if budget is not None else case_budget())
        return _run(case, timed, env, keep_going, out)
    except BackendCrash as e:
        trace.crash, trace.crash_kind = str(e), e.kind
        out.status = "crash"
        out.message = e.describe()
        return out
    except SpecError as e:
        out.status, out.message = "error", str(e)
        return out
    except Exception as e:  # creation, or anything else outside the steps
        out.status, out.message = "fail", unexpected(e)
        return out


def _run(case: Case, backend: CoreBackend, env: dict[str, int], keep_going: bool,
         out: Outcome) -> Outcome:
    trace = out.trace
    assert trace is not None
    b = case.buddy
    injector = faults.injector_of(backend)
    nth = faults.arm(injector, b.fail_alloc, lambda e: e.eval(env))
    try:
        if case.layer == "core":
            session: Session = CoreSession(backend, env["size"], env["chunk_size"])
        else:
            session = BindingSession(backend, env["base_offset"], env["size"], env["chunk_size"])
    except BuddyError as e:
        trace.create_errno = e.errno
        if problem := faults.after_create(injector, nth, e.errno):
            out.status, out.message = "fail", f"line {b.pos.line}: {problem}"
            return out
        if b.error == e.errno:
            return out
        out.status = "fail"
        want = f"error {b.error}" if b.error else "success"
        out.message = f"line {b.pos.line}: creating the allocator: expected {want}, got {e.errno}"
        return out
    if problem := faults.after_create(injector, nth, None):
        _close_quietly(session)
        out.status, out.message = "fail", f"line {b.pos.line}: {problem}"
        return out
    if b.error is not None:
        session.close()
        out.status = "fail"
        out.message = (f"line {b.pos.line}: creating the allocator: expected error {b.error}, "
                       "got success")
        return out
    run = _Run(case, session, LiveSet(session.mm_size, env["chunk_size"]), env, keep_going, trace,
               injector=injector)
    try:
        run.run_steps(case.steps)
    except _Stop:
        pass
    except BaseException:
        _close_quietly(session)
        raise
    trace.crash_step = "teardown"
    try:
        run.teardown()
    except _Stop:
        pass
    except BaseException:
        _close_quietly(session)
        raise
    trace.crash_step = None
    if run.failure is not None:
        f = run.failure
        where = f"step {f.path} (line {f.line})" if f.line else f"step {f.path}"
        out.status = "fail"
        out.message = f"{where}: {f.message} {f.state}"
    return out


def session_counters(session: Session) -> tuple[int, int]:
    try:
        return session.counters()
    except Exception:  # the allocator is gone after teardown on some backends
        return (0, 0)


def _close_quietly(session: Session) -> None:
    try:
        session.abandon()
    except Exception:
        pass
