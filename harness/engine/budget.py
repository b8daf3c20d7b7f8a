"""A wall-clock budget per case, on every backend.

The engine runs each case on a backend wrapped here: every call into an
allocator first checks the case's deadline, and past it the case ends as a
``crash: timeout``, as when the native worker stops answering; the run goes
on with the next case.  Every step and every repeat iteration calls into the
allocator, so a case cannot loop past its budget without noticing; one call
itself is bounded by the backend (``--timeout`` for the native worker; the
reference predicts its runaway requests instead of running them).

The budget is one setting per process: ``buddy-harness run``/``diff`` and the
pytest option ``--case-budget`` set it before any case runs.
"""

from __future__ import annotations

import time

from harness.backends.base import Allocator, BackendCrash, Block, Capabilities, CoreBackend

DEFAULT_CASE_BUDGET = 60.0  # seconds; the slowest corpus case takes well under one

_setting = [DEFAULT_CASE_BUDGET]


def set_case_budget(seconds: float) -> None:
    _setting[0] = seconds


def case_budget() -> float:
    return _setting[0]


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise BackendCrash(f"timeout: the case ran past its budget of {self.seconds:g} s "
                               "(raise it with --case-budget SECONDS)", "timeout")


class BudgetedBackend:
    """``backend`` whose allocators check ``deadline`` before every call."""

    def __init__(self, backend: CoreBackend, seconds: float) -> None:
        self.inner = backend
        self.name: str = backend.name
        self.capabilities: Capabilities = backend.capabilities
        self.deadline = _Deadline(seconds)

    def __getattr__(self, name: str):  # what else the backend offers (fault injection, ...)
        return getattr(self.inner, name)

    def create(self, size: int, chunk_size: int) -> Allocator:
        self.deadline.check()
        return _BudgetedAllocator(self.inner.create(size, chunk_size), self.deadline)

    def close(self) -> None:
        """Nothing: the backend outlives the case and is closed by whoever opened it."""


class _BudgetedAllocator:
    """Checks the deadline before each call that does work; the rest passes straight on
    (``fini`` above all, so a timed-out case still tears down)."""

    def __init__(self, inner: Allocator, deadline: _Deadline) -> None:
        self.inner = inner
        self.deadline = deadline

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    @property
    def avail(self) -> int:
        self.deadline.check()
        return self.inner.avail

    # Read after every step: passed on without the detour through __getattr__.
    @property
    def clear_avail(self) -> int:
        return self.inner.clear_avail

    def warnings(self) -> list[str]:
        return self.inner.warnings()

    def alloc(self, start: int, end: int, size: int, min_block_size: int,
              flags: int) -> tuple[int, list[Block]]:
        self.deadline.check()
        return self.inner.alloc(start, end, size, min_block_size, flags)

    def free(self, handle: int, cleared: bool = False) -> None:
        self.deadline.check()
        self.inner.free(handle, cleared)

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        self.deadline.check()
        return self.inner.trim(handle, new_size, start)

    def reset_clear(self, is_clear: bool) -> None:
        self.deadline.check()
        self.inner.reset_clear(is_clear)
