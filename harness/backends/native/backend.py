"""The native core backend: allocators living in a worker process running the kernel's C.

Counters come back with every reply, so reading ``avail`` or ``clear_avail``
costs no round trip; warnings are fetched only when the worker says some are
pending.
"""

from __future__ import annotations

import weakref

from harness import integrity
from harness.backends.base import (
    CLEARED,
    FAIL_ALLOC,
    BackendCrash,
    BackendDefaults,
    Block,
    BuddyError,
    Capabilities,
    CaseRecord,
    Op,
    OpResult,
)
from harness.backends.batch import handle_at
from harness.backends.native.build import Build, build
from harness.backends.native.speculation import Speculation, materialize
from harness.backends.native.worker import Worker
from harness.suites import Suite
from harness.trees.tree import KernelTree

ERRNO = {12: "ENOMEM", 22: "EINVAL", 28: "ENOSPC", 95: "EOPNOTSUPP"}


def errno_name(status: int) -> str:
    return ERRNO.get(-status, f"errno {-status}")


class NativeBackend(BackendDefaults):
    """``native@...``: one worker process at a time, restarted lazily after a crash."""

    out_of_process = True
    worker_type: type[Worker] = Worker  # mutation testing records what the worker is sent

    def __init__(self, name: str, tree: KernelTree, build: Build, *, timeout: float,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = env  # extra environment for the worker (coverage data goes by it)
        self.tree = tree
        self.build = build
        self.timeout = timeout
        self.capabilities = Capabilities(tree.version, tree.features | {FAIL_ALLOC}, tree.api)
        self._worker: Worker | None = None
        self._finalizer = weakref.finalize(self, _close_worker, [None])
        self._suites: list[Suite] | None = None
        self._spec: Speculation | None = None

    def suites(self) -> list[Suite]:
        """The tree's KUnit file for the allocator, if it has one (harness.kunit)."""
        if self._suites is None:
            from harness.kunit import source
            from harness.kunit.suite import KunitSuite

            kf = source.find(self.tree)
            self._suites = [KunitSuite(self, kf)] if kf else []
        return self._suites

    def worker(self) -> Worker:
        w = self._worker
        if w is None or w.dead is not None:
            if w is not None:
                w.close()
            if integrity.damaged(self.build.dir):  # damaged since it was opened
                self.build = build(self.tree, sanitize=self.build.sanitize,
                                   coverage=self.build.coverage)
            w = self.worker_type(str(self.build.worker), timeout=self.timeout,
                                 sanitize=self.build.sanitize, env=self.env)
            w.spec = self._spec
            self._worker = w
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _close_worker, [w])
        return w

    # Speculation (speculation.py): the requests a case made last time, sent ahead.
    @property
    def predicts(self) -> bool:
        # Not a coverage build: a mispredicted worker's counters would count lines no case
        # asked for.
        return not self.build.coverage

    def begin_case(self, predicted: list[str] | None) -> None:
        self._spec = Speculation(predicted)
        if self._worker is not None:
            self._worker.spec = self._spec

    def end_case(self) -> CaseRecord:
        """The case's requests and replies as recorded, and whether its prediction held."""
        spec, self._spec = self._spec, None
        w = self._worker
        if w is not None:
            w.spec = None
        if spec is None:
            return CaseRecord(None, True)
        spec.end()
        # Replies only of a worker that answered everything it was asked and is still alive.
        whole = w is not None and w.dead is None and not w.skip and not w.unread()
        return CaseRecord(spec.log, spec.clean, spec.replies if whole and spec.clean else None)

    def replay(self, sent: list[str], got: str, deadline: float) -> str | None:
        if not sent:
            return ""  # it asked nothing of the worker (a skip): nothing can have changed
        w = self.worker()
        w.spec = None
        base = w.slots
        self.take_output()  # what ran before is not this case's (as run_case does)
        if not w.replay(materialize("".join(f"{x}\n" for x in sent), base).encode(),
                        materialize(got, base).encode(), deadline):
            return None
        w.slots += got.count("@")  # each allocator the worker made, named in init's reply
        return self.take_output()

    def create(self, size: int, chunk_size: int) -> NativeAllocator:
        w = self.worker()
        reply = w.request(f"i {_u64(size)} {_u64(chunk_size)}")[0].split()
        status = int(reply[0])
        if status:
            raise BuddyError(errno_name(status))
        return NativeAllocator(self, w, int(reply[1]), int(reply[2]), chunk_size)

    def take_output(self) -> str:
        """What the C printed since the last call (the engine gives it to the case)."""
        return self._worker.take_output() if self._worker is not None else ""

    def close(self) -> str:
        """Stop the worker; returns what it wrote on stderr (sanitizer reports land there)."""
        for suite in self._suites or []:
            suite.close()
        w, self._worker = self._worker, None
        self._finalizer.detach()
        return w.close() if w is not None else ""

    # Failure injection (harness/backends/faults.py): the shim's slab fails one allocation.
    def arm_failure(self, nth: int) -> None:
        self.worker().request(f"F {_u64(nth)}")

    def failures_fired(self) -> tuple[int, int]:
        """(armed failures that fired, block structures alive in the worker); disarms."""
        fired, live = self.worker().request("g")[0].split()
        return int(fired), int(live)

    def teardown_leaks(self, mm: NativeAllocator) -> list[str]:
        """After ``mm`` should have been dropped: a message if it was never finalised.
        (A finalised allocator that lost block structures is reported by its fini.)"""
        if mm._w is not self._worker or mm._w.dead is not None:
            return []  # that worker is gone, and the allocator with it
        live, open_, mine = (int(x) for x in mm._w.request(f"k {mm._mm}")[0].split())
        if not mine:
            return []
        # Other cases may hold allocators of this worker at the same time: the count of
        # block structures is this allocator's only when it is the last one open.
        held = f", {live} block structures still allocated" if open_ == 1 else ""
        return [f"leak: the allocator was never finalised (gpu_buddy_fini not called){held}"]

    # Test-only entries (csrc's bh_test_*): prove crash and timeout handling.
    def _spin(self) -> None:
        self.worker().request("S")


def _close_worker(box: list[Worker | None]) -> None:
    if box[0] is not None:
        box[0].close()


def _u64(v: int) -> int:
    if not 0 <= v < 1 << 64:
        raise BuddyError("EINVAL", f"{v} does not fit in a u64")
    return v


class NativeAllocator:
    """One ``struct gpu_buddy`` (or ``drm_buddy``) in the worker."""

    def __init__(self, backend: NativeBackend, worker: Worker, mm: int, size: int,
                 chunk_size: int) -> None:
        self._backend = backend
        self._w = worker
        self._mm = mm
        self._size = size
        self._chunk = chunk_size
        self._avail = size
        self._clear = 0
        self._pending = 0
        self._next_handle = 0
        self._closed = False

    # -- counters -----------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    @property
    def chunk_size(self) -> int:
        return self._chunk

    @property
    def avail(self) -> int:
        return self._avail

    @property
    def clear_avail(self) -> int:
        return self._clear

    # -- operations ---------------------------------------------------------
    def _state(self, fields: list[str]) -> int:
        status = int(fields[0])
        self._avail, self._clear, self._pending = int(fields[1]), int(fields[2]), int(fields[3])
        return status

    def _blocks(self, fields: list[str], at: int) -> list[Block]:
        n = int(fields[at])
        c = self._chunk
        return [Block(int(fields[at + 1 + 2 * i]), int(fields[at + 2 + 2 * i]),
                      c << int(fields[at + 2 + 2 * i])) for i in range(n)]

    def _call(self, line: str) -> list[str]:
        if self._closed:
            raise BackendCrash("the allocator was already torn down", "closed")
        return self._w.request(line)[0].split()

    # Request lines, shared by the one-op calls and run_batch (csrc/worker_main.c).
    def _alloc_line(self, start: int, end: int, size: int, min_block_size: int,
                    flags: int) -> str:
        return (f"a {self._mm} {_u64(start)} {_u64(end)} {_u64(size)} "
                f"{_u64(min_block_size)} {_u64(flags)}")

    def _trim_line(self, handle: int, new_size: int, start: int | None) -> str:
        if start is not None and not self._backend.tree.trim_start:
            raise BuddyError("EINVAL", f"{self._backend.tree.api}_block_trim takes no start")
        return (f"t {self._mm} {handle} {_u64(new_size)} {0 if start is None else 1} "
                f"{_u64(start or 0)}")

    def alloc(self, start: int, end: int, size: int, min_block_size: int,
              flags: int) -> tuple[int, list[Block]]:
        f = self._call(self._alloc_line(start, end, size, min_block_size, flags))
        handle = self._next_handle
        self._next_handle += 1
        status = self._state(f)
        if status:
            raise BuddyError(errno_name(status))
        return handle, self._blocks(f, 4)

    def free(self, handle: int, cleared: bool = False) -> None:
        self._state(self._call(f"f {self._mm} {handle} {CLEARED if cleared else 0}"))

    def trim(self, handle: int, new_size: int, start: int | None = None) -> list[Block]:
        f = self._call(self._trim_line(handle, new_size, start))
        status = self._state(f)
        if status:
            raise BuddyError(errno_name(status))
        return self._blocks(f, 4)

    def reset_clear(self, is_clear: bool) -> None:
        status = self._state(self._call(f"r {self._mm} {int(is_clear)}"))
        if status:
            raise BuddyError(errno_name(status), "this kernel has no reset_clear")

    def warnings(self) -> list[str]:
        if not self._pending:
            return []
        out = self._w.warnings()
        self._pending = 0
        return out

    def fini(self) -> list[str]:
        if self._closed:
            return []
        self._state(self._call(f"z {self._mm}"))
        out = self.warnings()
        self._closed = True
        return out

    # -- batches ------------------------------------------------------------
    def run_batch(self, ops: list[Op]) -> list[OpResult]:
        """The whole sequence in one round trip (handles numbered as in batch.py)."""
        first = self._next_handle
        lines = []
        handles: list[int | None] = []
        for op in ops:
            a = op.args
            if op.verb == "alloc":
                handles.append(first + len(handles))
                lines.append(self._alloc_line(a["start"], a["end"], a["size"],
                                              a["min_block_size"], a["flags"]))
            elif op.verb == "free":
                h = handle_at(handles, a["handle"])
                lines.append(f"f {self._mm} {-1 if h is None else h} "
                             f"{CLEARED if a.get('cleared') else 0}")
                if h is not None:
                    handles[a["handle"]] = None
            elif op.verb == "trim":
                h = handle_at(handles, a["handle"])
                lines.append(self._trim_line(-1 if h is None else h, a["size"], a.get("start")))
            elif op.verb == "reset_clear":
                lines.append(f"r {self._mm} {int(a['is_clear'])}")
            elif op.verb == "counters":
                lines.append(f"c {self._mm}")
            else:
                raise ValueError(f"unknown batch verb {op.verb}")
        if self._closed:
            raise BackendCrash("the allocator was already torn down", "closed")
        if self._w.flush_each:  # a batch is answered in one write (speculation.py set it)
            self._w.request("E 0")
            self._w.flush_each = False
        replies = self._w.pipeline(lines)
        self._next_handle = first + len(handles)
        out = []
        for op, (line,) in zip(ops, replies):
            f = line.split()
            status = self._state(f)
            r = OpResult(ok=status == 0, errno=errno_name(status) if status else None,
                         avail=self._avail, clear_avail=self._clear)
            if op.verb == "alloc" and status == 0 or op.verb == "trim":
                r.blocks = self._blocks(f, 4) if len(f) > 4 else []
            out.append(r)
        return out

    # Test-only: free the handle's first block twice, which the allocator's BUG_ON catches.
    def _double_free(self, handle: int) -> None:
        self._state(self._call(f"X {self._mm} {handle}"))
