"""The one small interface every core backend implements.

A *core backend* is a factory for allocators that behave like the C
``gpu_buddy_*`` API (the core layer).  Offsets are raw (no base offset),
flags are the C bit values, and failures are errno names, never exceptions
other than :class:`BuddyError` and :class:`BackendCrash`.

Allocations are named by integer handles: ``alloc`` returns a handle and the
blocks of the list it filled, in list order; ``free``/``trim`` take the
handle.  That keeps the native worker protocol free of pointers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harness.engine.trace import Outcome
    from harness.trees.tree import KernelTree

# C flag bits (include/linux/gpu_buddy.h).
RANGE = 1 << 0
TOPDOWN = 1 << 1
CONTIGUOUS = 1 << 2
CLEAR = 1 << 3
CLEARED = 1 << 4
TRIM_DISABLE = 1 << 5

FLAG_BITS = {
    "range": RANGE,
    "topdown": TOPDOWN,
    "contiguous": CONTIGUOUS,
    "clear": CLEAR,
    "trim_disable": TRIM_DISABLE,
}

ERRNOS = ("EINVAL", "ENOSPC", "ENOMEM")

# Features a case may require (SPEC_FORMAT.md `requires`).
FEATURES = frozenset(
    {"contiguous", "clear", "trim_disable", "offset_aligned", "trim", "reset_clear"}
)
# Not a kernel feature but a backend's: failing a chosen memory allocation on purpose
# (harness/engine/faults.py).  A case that uses `fail_alloc` requires it.
FAIL_ALLOC = "fail_alloc"
CASE_FEATURES = FEATURES | {FAIL_ALLOC}


@dataclass(frozen=True)
class Block:
    """One returned block, as the layer's API reports it."""

    offset: int
    order: int
    size: int


class BuddyError(Exception):
    """The allocator refused an operation with an errno (EINVAL, ENOSPC, ...)."""

    def __init__(self, errno: str, detail: str = "") -> None:
        super().__init__(f"{errno}{': ' + detail if detail else ''}")
        self.errno = errno


# Live block structures an allocator may hold at once before the harness calls it out of
# memory (kind ``oom``): the native worker enforces it in its slab, the reference predicts it.
# No corpus item but the runaway one comes near it; it ends on the budget, so the budget is
# that item's time in every run (0.14 s of the worker's CPU at 2^20, 0.56 s at 2^22).
SLAB_BUDGET = 1 << 20


class BackendCrash(Exception):
    """The backend itself died (segfault, abort, BUG_ON, out of memory, timeout).

    The message is what the backend said; ``kind`` is e.g. ``signal``,
    ``bug``, ``oom``, ``timeout``.
    """

    def __init__(self, message: str, kind: str = "crash") -> None:
        super().__init__(message)
        self.kind = kind

    def describe(self) -> str:
        """``kind: message``, without saying the kind twice."""
        text = str(self)
        return text if text.startswith(self.kind) else f"{self.kind}: {text}"


class BackendUnavailable(Exception):
    """The backend cannot be used here; the message says what to do."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend (kernel version) has."""

    version: str
    features: frozenset[str] = FEATURES
    # API family: "gpu_buddy" (6.12+) or "drm_buddy" (6.1).
    api: str = "gpu_buddy"

    def missing(self, required: frozenset[str] | set[str]) -> list[str]:
        return sorted(set(required) - self.features)


@runtime_checkable
class Allocator(Protocol):
    """One live ``struct gpu_buddy``."""

    @property
    def size(self) -> int: ...
    @property
    def chunk_size(self) -> int: ...
    @property
    def avail(self) -> int: ...
    @property
    def clear_avail(self) -> int: ...

    def alloc(
        self, start: int, end: int, size: int, min_block_size: int, flags: int
    ) -> tuple[int, list[Block]]:
        """gpu_buddy_alloc_blocks; returns (handle, blocks) or raises BuddyError."""
        ...

    def free(self, handle: int, cleared: bool = False) -> None:
        """gpu_buddy_free_list of the handle's list (flags CLEARED if cleared)."""
        ...

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        """gpu_buddy_block_trim on the handle's single-block list; returns the new list."""
        ...

    def reset_clear(self, is_clear: bool) -> None: ...

    def fini(self) -> list[str]:
        """gpu_buddy_fini; returns the warnings it raised (leaks), empty if clean."""
        ...

    def warnings(self) -> list[str]:
        """WARN_ONs raised since the last call (and clears them)."""
        ...


class Suite(Protocol):
    """Items a backend's tree contributes besides the spec cases (its doc examples, ...), run
    by one opened backend; :mod:`harness.suites` lists the kinds."""

    kind: str  # a key of harness.suites.KINDS

    def start(self) -> None:
        """Begin building and running in the background (idempotent)."""
        ...

    def outcomes(self) -> list[Outcome]:
        """Every item's raw outcome (before expectations), computed once per backend."""
        ...

    def close(self) -> None:
        """End what it runs (its backend's ``close`` calls it)."""
        ...


class CoreBackend(Protocol):
    """A factory of allocators plus what it can do (BackendDefaults gives the usual answers)."""

    name: str
    capabilities: Capabilities
    tree: KernelTree | None
    out_of_process: bool
    own_binding: bool  # create_binding gives a binding of its own (the real Rust one)

    def skip_reason(self, layer: str) -> str | None:
        """Why a case of ``layer`` (core, binding) is not this backend's to run; else None."""
        ...

    def create(self, size: int, chunk_size: int) -> Allocator:
        """gpu_buddy_init; raises BuddyError on refusal."""
        ...

    def close(self) -> None:
        """Release processes or libraries the backend holds."""
        ...

    def suites(self) -> list[Suite]:
        """The suites its tree contributes besides the spec cases (harness.suites)."""
        ...

    def create_binding(self, base_offset: int, size: int, chunk_size: int) -> Any:
        """A binding of its own (``rust@``: the real Rust ``GpuBuddy``), or None: the model
        binding (harness.binding) over its core serves the binding layer."""
        ...

    def take_output(self) -> str:
        """What the code under test printed since the last call (a worker's stdout and
        stderr), becoming the case's ``output``."""
        ...

    def teardown_leaks(self, core: Allocator) -> list[str]:
        """After the model binding dropped ``core``: what of the C's block structures is still
        alive, one message each (nothing to say: [])."""
        ...

    predicts: bool  # begin_case/end_case carry a case's requests between runs

    def begin_case(self, predicted: list[str] | None) -> None: ...

    def end_case(self) -> CaseRecord: ...

    def replay(self, sent: list[str], got: str, deadline: float) -> str | None:
        """Send a case's recorded requests ``sent`` again: what the code printed if every
        reply is byte for byte ``got`` (before ``deadline``, a ``time.monotonic()``), else
        None, with whatever the requests did discarded (harness.lastrun)."""
        ...


class BackendDefaults:
    """What a backend has unless it says otherwise: both layers (the binding layer through
    the model binding over its core), no kernel tree, no worker process, no suites, no
    output of its own, no leak count."""

    tree: KernelTree | None = None  # the kernel tree its code comes from
    out_of_process: bool = False  # runs the code in worker processes: one more per job
    own_binding: bool = False

    def skip_reason(self, layer: str) -> str | None:
        """Why a case of ``layer`` is not this backend's to run; None when it is."""
        return None

    def suites(self) -> list[Suite]:
        return []

    def create_binding(self, base_offset: int, size: int, chunk_size: int) -> Any:
        return None

    def take_output(self) -> str:
        return ""

    def teardown_leaks(self, core: Allocator) -> list[str]:
        return []

    # A case's requests predicted from the last run (harness.parallel): only a backend with
    # a worker process has requests to send ahead.
    predicts: bool = False

    def begin_case(self, predicted: list[str] | None) -> None:
        """Before a case: the requests it made on the last run (None: unknown)."""

    def end_case(self) -> CaseRecord:
        """After it: what it sent and what came back (:class:`CaseRecord`)."""
        return CaseRecord(None, True)

    def replay(self, sent: list[str], got: str, deadline: float) -> str | None:
        return None


@dataclass(frozen=True)
class CaseRecord:
    """A case's exchange with a worker, as the backend saw it (harness.lastrun keeps it)."""

    sent: list[str] | None  # its requests, to predict the next run's (None: unknown)
    held: bool  # the requests sent ahead were the ones asked for, so its outcome stands
    got: str | None = None  # every reply line, in order, when the worker answered them all


@dataclass
class Op:
    """One operation of a batch (used by the fuzzer and the native batch mode).

    ``verb`` is one of alloc, free, trim, reset_clear, counters.  ``handle``
    indexes the allocations made earlier in the same batch (alloc results are
    numbered from 0 in order, failed allocs included so numbering is stable).
    """

    verb: str
    args: dict = field(default_factory=dict)


@dataclass
class OpResult:
    ok: bool
    errno: str | None = None
    blocks: list[Block] = field(default_factory=list)
    avail: int = 0
    clear_avail: int = 0
