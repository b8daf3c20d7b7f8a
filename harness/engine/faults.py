"""Allocation-failure injection, as the engine uses it.

A case asks for it with ``fail_alloc: N`` on ``buddy``, an ``alloc`` or a
``trim``: the N-th memory allocation the allocator makes during that call
(block structures from its slab, and the arrays ``init`` takes) fails, once,
as the kernel's failslab would make it.  Whatever the case expects besides,
an injected failure must:

- have fired (a step that makes fewer than N allocations tests nothing);
- if the call failed, have given back everything it took: ``avail`` and
  ``clear_avail`` as before it (a call may also recover, by retrying, and succeed);
- leave no block structure behind once the allocator is gone (the worker warns
  at the last ``fini``; a failed ``init`` is checked here).

Which errno the call returns is the case's to say (``expect: {error: ENOMEM}``),
so a divergence from it is recorded like any other, in the expectation files.
On a step with ``fail_alloc`` and no ``error``, the outcome is left unstated:
the call may fail or recover, and only its counter expectations are checked
when it fails.

These are invariants, not a predicted outcome: the reference model would have
to allocate block structures exactly where and when the C does, and unwind
each of the C's error paths, for the prediction to mean anything, and neither
is documented behaviour.  A backend without the capability skips the case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from harness.backends.base import FAIL_ALLOC, CoreBackend
from harness.engine.checks import fmt
from harness.spec.expr import Expr
from harness.spec.model import Expect
from harness.spec.position import SpecError


@runtime_checkable
class Injector(Protocol):
    def arm_failure(self, nth: int) -> None:
        """Make the nth memory allocation from now fail (0 disarms)."""
        ...

    def failures_fired(self) -> tuple[int, int]:
        """(armed failures that fired, block structures alive); disarms."""
        ...


SKIP_REASON = "cannot inject allocation failures (fail_alloc)"


def injector_of(backend: CoreBackend) -> Injector | None:
    """The backend as an Injector when it can fail an allocation on purpose, else None."""
    if FAIL_ALLOC not in backend.capabilities.features or not isinstance(backend, Injector):
        return None
    return backend


def outcome_unstated(exp: Expect) -> Expect:
    """The counter expectations of a step whose injected failure ended it."""
    return Expect(pos=exp.pos, avail=exp.avail, avail_delta=exp.avail_delta,
                  clear_avail=exp.clear_avail)


def arm(injector: Injector | None, expr: Expr | None, ev: Callable[[Expr], int]) -> int:
    """Arm ``fail_alloc: expr`` if there is one and a way to inject; N, or 0."""
    if expr is None or injector is None:
        return 0
    nth = ev(expr)
    if nth < 1:
        raise SpecError(expr.pos, "fail_alloc counts from 1 (the first allocation)")
    injector.arm_failure(nth)
    return nth


def fired(injector: Injector | None, nth: int) -> int:
    """How many armed failures fired (disarming); 0 when nothing was armed."""
    return injector.failures_fired()[0] if nth and injector is not None else 0


def after_create(injector: Injector | None, nth: int, errno: str | None) -> str | None:
    """What is wrong after creating the allocator with fail_alloc: nth armed, or None."""
    if not nth or injector is None:
        return None
    return judge_create(nth, *injector.failures_fired(), errno)


def judge_step(nth: int, fired: int, errno: str | None, before: tuple[int, int],
               after: tuple[int, int]) -> str | None:
    """What is wrong after a step that ran with fail_alloc: nth, or None."""
    if not fired:
        return (f"fail_alloc: {nth} never fired: the call made fewer than {nth} memory "
                "allocations (give a smaller number)")
    if errno is not None and after != before:
        return ("the call failed on an injected allocation failure but did not give back "
                f"what it took: avail {fmt(before[0])} -> {fmt(after[0])}, clear_avail "
                f"{fmt(before[1])} -> {fmt(after[1])}")
    return None


def judge_create(nth: int, fired: int, live: int, errno: str | None) -> str | None:
    """What is wrong after creating the allocator with fail_alloc: nth, or None."""
    if not fired:
        return (f"fail_alloc: {nth} never fired: creation made fewer than {nth} memory "
                "allocations (give a smaller number)")
    if errno is not None and live:
        return f"creation failed but left {live} block structures allocated"
    return None
