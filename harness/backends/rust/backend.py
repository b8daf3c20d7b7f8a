"""``rust@VERSION`` / ``rust@PATH``: the tree's real Rust binding, driven in a worker process.

A binding-layer backend: it implements the shape of the model binding
(:class:`harness.backends.binding.GpuBuddy`) over the line protocol of
``standin/worker/main.rs``, so the engine's binding session runs a case on it
exactly as on the model. Core-layer cases are not its to run (the C API is
under the binding, not in it): they are skipped with a reason naming
``native@`` on the same tree.
"""

from __future__ import annotations

import errno as _errno
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from harness import integrity
from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    TRIM_DISABLE,
    BackendCrash,
    Block,
    BuddyError,
    Capabilities,
)
from harness.backends.native.tree import KernelTree
from harness.backends.native.worker import Worker
from harness.backends.rust import doctests
from harness.backends.rust.build import BINDING, RustBuild, build
from harness.engine.trace import Outcome

MODES = {"simple": "s", "topdown": "t", "range": "r"}
MODIFIERS = {"contiguous": CONTIGUOUS, "clear": CLEAR, "trim_disable": TRIM_DISABLE}


def _errno_name(status: int) -> str:
    return _errno.errorcode.get(-status, f"errno {-status}")


def _alloc_line(slot: int | str, mode: str, start: int, end: int, size: int, mbs: int,
                flags) -> str:
    bits = sum(MODIFIERS[f] for f in set(flags))
    return f"a {slot} {MODES[mode]} {start} {end} {size} {mbs} {bits}"


def _blocks(reply: list[str]) -> list[Block]:
    """The blocks of a successful alloc reply: ``0 AVAIL N OFF ORDER SIZE ...``."""
    n = int(reply[2])
    vals = [int(x) for x in reply[3:3 + 3 * n]]
    if len(vals) != 3 * n:
        raise BackendCrash(f"worker reply cut short: {' '.join(reply)[:200]}", "protocol")
    return [Block(vals[i], vals[i + 1], vals[i + 2]) for i in range(0, len(vals), 3)]


class RustBackend:
    """Opens allocators in a binding worker; one worker per backend, restarted after a crash."""

    layers = frozenset({"binding"})

    def __init__(self, name: str, tree: KernelTree, build: RustBuild, *, timeout: float) -> None:
        self.name = name
        self.tree = tree
        self.build = build
        self.timeout = timeout
        self.capabilities = Capabilities(tree.version, tree.features, tree.api)
        self._worker: Worker | None = None
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._doctests: Future[list[doctests.DoctestResult]] | None = None

    def start_doctests(self) -> None:
        """Build and run the doc examples in the background (on the other core, while the
        cases use the worker)."""
        if self._doctests is None:
            self._doctests = self._pool.submit(
                doctests.run_all, self.build,
                doctests.extract(self.tree.root / BINDING, BINDING),
                timeout=max(self.timeout, 30))

    def doctest_outcomes(self) -> list[Outcome]:
        """Every example of the tree's ``buddy.rs`` compiled and run (once per backend)."""
        self.start_doctests()
        assert self._doctests is not None
        return [Outcome(r.doctest.id, "", self.name, r.status, r.message, file=r.doctest.file,
                        line=r.doctest.line) for r in self._doctests.result()]

    def skip_reason(self, layer: str) -> str | None:
        if layer in self.layers:
            return None
        return (f"a {layer}-layer case: {self.name} runs the Rust binding, whose API is the "
                f"binding layer; the same tree's C runs it on "
                f"{self.name.replace('rust', 'native', 1)}")

    def worker(self) -> Worker:
        if self._worker is None or self._worker.dead is not None:
            if self._worker is not None:
                self._worker.close()
            if any(integrity.damaged(d) for d in (self.build.dir, self.build.native)):
                # damaged since it was opened (the worker, or the C library it loads)
                self.build = build(self.tree, log=lambda _m: None)
            self._worker = Worker(str(self.build.worker), timeout=self.timeout)
        return self._worker

    def create_binding(self, base_offset: int, size: int, chunk_size: int) -> RustBuddy:
        w = self.worker()  # a new one if the last died: a crash stays with its case
        reply = w.request(f"i {base_offset} {size} {chunk_size}")[0].split()
        if int(reply[0]) != 0:
            raise BuddyError(_errno_name(int(reply[0])), "GpuBuddy::new")
        return RustBuddy(w, int(reply[1]), base_offset, int(reply[2]))

    def run_program(self, base_offset: int, size: int, chunk_size: int,
                    ops: list[tuple]) -> tuple[str, list[tuple]]:
        """A whole binding program in one round trip (batch mode).

        ``ops`` are ``("alloc", mode, start, end, size, min_block_size, flags)`` and
        ``("drop", alloc_index)``. Returns the creation outcome ("ok" or an errno) and per
        op ``(outcome, blocks, avail)``, then ``("end", (), avail)`` after every drop.
        """
        lines = [f"i {base_offset} {size} {chunk_size}"]
        for op in ops:
            if op[0] == "alloc":
                lines.append(_alloc_line("L", *op[1:]))
            else:
                lines.append(f"f L {op[1]}")
        n_allocs = sum(1 for op in ops if op[0] == "alloc")
        lines += [f"f L {h}" for h in range(n_allocs)] + ["c L", "z L"]
        w = self.worker()
        first = w.request(lines[0])[0].split()
        if int(first[0]) != 0:
            return _errno_name(int(first[0])), []
        replies = w.pipeline(lines[1:])
        steps: list[tuple] = []
        for op, (reply,) in zip(ops, replies):
            f = reply.split()
            if op[0] == "drop":
                steps.append(("drop", (), int(f[1])))
            elif int(f[0]) != 0:
                steps.append((_errno_name(int(f[0])), (), int(f[1])))
            else:
                steps.append(("ok", tuple((b.offset, b.order, b.size) for b in _blocks(f)),
                              int(f[1])))
        steps.append(("end", (), int(replies[-2][0].split()[1])))
        return "ok", steps

    def stress(self, threads: int, ops: int, seed: int, size: int, chunk: int) -> str:
        """Threads inside the worker through one ``GpuBuddy``; "0 OPS AVAIL" or "FAIL ..."."""
        return self.worker().request(f"T {threads} {ops} {seed} {size} {chunk}")[0]

    def take_output(self) -> str:
        """What the binding and the C printed since the last call (the case's output)."""
        return self._worker.take_output() if self._worker is not None else ""

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._worker is not None:
            self._worker.close()
            self._worker = None


@dataclass
class RustAllocation:
    """One ``Pin<KBox<AllocatedBlocks>>`` held by the worker."""

    owner: RustBuddy
    handle: int
    _blocks: list[Block]
    dropped: bool = False

    def blocks(self) -> list[Block]:
        return list(self._blocks)

    def drop(self) -> None:
        if not self.dropped:
            self.dropped = True
            self.owner._drop(self.handle)


class RustBuddy:
    """One ``GpuBuddy`` in the worker, with the model binding's method names."""

    def __init__(self, worker: Worker, slot: int, base_offset: int, initial_avail: int) -> None:
        self._w = worker
        self._slot = slot
        self._base = base_offset
        self._next = 0
        # The C's own size (rounded to chunks) is what a fresh allocator has free.
        self._mm_size = initial_avail
        self._closed = False

    def _info(self) -> list[int]:
        return [int(x) for x in self._w.request(f"c {self._slot}")[0].split()]

    def base_offset(self) -> int:
        return self._info()[4]

    def size(self) -> int:
        return self._info()[2]

    def chunk_size(self) -> int:
        return self._info()[3]

    def avail(self) -> int:
        return self._info()[1]

    def mm_size(self) -> int:
        return self._mm_size

    def clear_avail(self) -> int:
        # The binding has no accessor for it, and never frees cleared (drop passes
        # flags 0), so nothing can ever be clear through it.
        return 0

    def alloc_blocks(self, mode: tuple, size: int, min_block_size: int,
                     flags: set[str] | frozenset[str] = frozenset()) -> RustAllocation:
        start, end = (mode[1], mode[2]) if mode[0] == "range" else (0, 0)
        for what, v in (("size", size), ("start", start), ("end", end),
                        ("min_block_size", min_block_size)):
            if not 0 <= v < 1 << 64:
                raise OverflowError(f"{what} {v} does not fit in a u64")
        reply = self._w.request(_alloc_line(self._slot, mode[0], start, end, size,
                                            min_block_size, flags))[0].split()
        handle, self._next = self._next, self._next + 1
        status = int(reply[0])
        if status != 0:
            raise BuddyError(_errno_name(status), "alloc_blocks")
        return RustAllocation(self, handle, _blocks(reply))

    def _drop(self, handle: int) -> None:
        self._w.request(f"f {self._slot} {handle}")

    def warnings(self) -> list[str]:
        return self._w.warnings()

    def close(self) -> list[str]:
        if self._closed:
            return []
        self._closed = True
        self._w.request(f"z {self._slot}")
        return self._w.warnings()
