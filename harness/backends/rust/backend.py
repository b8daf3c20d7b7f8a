"""``rust@VERSION`` / ``rust@PATH``: the tree's real Rust binding, driven in a worker process.

A binding-layer backend: it implements the shape of the model binding
(:class:`harness.backends.binding.GpuBuddy`) over the line protocol of
``standin/worker/main.rs``, so the engine's binding session runs a case on it
exactly as on the model. Core-layer cases are not its to run (the C API is
under the binding, not in it): they are skipped with a reason naming
``native@`` on the same tree.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from harness import integrity
from harness.backends.base import (
    BackendCrash,
    BackendDefaults,
    Block,
    BuddyError,
    Capabilities,
    Suite,
)
from harness.backends.names import BackendRef
from harness.backends.native.worker import Worker
from harness.backends.rust import doctests, programs
from harness.backends.rust.build import BINDING, RustBuild, build
from harness.backends.rust.lints import LintSuite
from harness.backends.rust.programs import (
    BindingProgram,
    ProgramResult,
    alloc_line,
    errno_name,
    reply_blocks,
)
from harness.engine.trace import Outcome
from harness.trees.tree import KernelTree


class DoctestSuite:
    """The examples of the tree's ``buddy.rs``, each compiled and run as a doctest; built and
    run on a thread of their own (the other core), while the cases use the worker."""

    kind = "rustdoc"

    def __init__(self, backend: RustBackend) -> None:
        self.backend = backend
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._results: Future[list[doctests.DoctestResult]] | None = None

    def start(self) -> None:
        if self._results is None:
            b = self.backend
            self._results = self._pool.submit(
                doctests.run_all, b.build, doctests.extract(b.tree.root / BINDING, BINDING),
                timeout=max(b.timeout, 30))

    def outcomes(self) -> list[Outcome]:
        self.start()
        assert self._results is not None
        return [Outcome(r.doctest.id, "", self.backend.name, r.status, r.message,
                        file=r.doctest.file, line=r.doctest.line)
                for r in self._results.result()]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RustBackend(BackendDefaults):
    """Opens allocators in a binding worker; one worker per backend, restarted after a crash."""

    layers = frozenset({"binding"})
    out_of_process = True
    own_binding = True

    def __init__(self, name: str, tree: KernelTree, build: RustBuild, *, timeout: float) -> None:
        self.name = name
        self.tree = tree
        self.build = build
        self.timeout = timeout
        self.capabilities = Capabilities(tree.version, tree.features, tree.api)
        self._worker: Worker | None = None
        self.doctests = DoctestSuite(self)
        self.lints = LintSuite(self)

    def suites(self) -> list[Suite]:
        return [self.doctests, self.lints]

    def skip_reason(self, layer: str) -> str | None:
        if layer in self.layers:
            return None
        return (f"a {layer}-layer case: {self.name} runs the Rust binding, whose API is the "
                f"binding layer; the same tree's C runs it on "
                f"{BackendRef(self.name).sibling('native')}")

    def worker(self) -> Worker:
        if self._worker is None or self._worker.dead is not None:
            if self._worker is not None:
                self._worker.close()
            if any(integrity.damaged(d) for d in (self.build.dir, self.build.native)):
                # damaged since it was opened (the worker, or the C library it loads)
                self.build = build(self.tree, log=lambda _m: None)
            # No backtrace: symbolizing one takes a third of a second per panic, and a
            # panic is an outcome the fuzzer meets often (offsets past u64::MAX).
            self._worker = Worker(str(self.build.worker), timeout=self.timeout,
                                  env={"RUST_BACKTRACE": "0"})
        return self._worker

    def create_binding(self, base_offset: int, size: int, chunk_size: int) -> RustBuddy:
        w = self.worker()  # a new one if the last died: a crash stays with its case
        reply = w.request(f"i {base_offset} {size} {chunk_size}")[0].split()
        if int(reply[0]) != 0:
            raise BuddyError(errno_name(int(reply[0])), "GpuBuddy::new")
        return RustBuddy(w, int(reply[1]), base_offset, int(reply[2]))

    def start_programs(self, progs: list[BindingProgram]) -> Callable[[], list[ProgramResult]]:
        """Send many programs at once; the call returned reads their results. The worker
        runs them while the caller does something else (the other side of a fuzz).

        Every reply is flushed as it is made (``E``), so when the worker dies in a program
        its steps up to the crash are known; the programs after it run on a fresh worker."""
        plans = [programs.lines(p) for p in progs]
        flat = ["E"] + [line for plan in plans for line in plan.lines]
        w = self.worker()
        crash: BackendCrash | None = None
        try:
            w.send(flat)
        except BackendCrash as e:
            crash = e

        def collect() -> list[ProgramResult]:
            nonlocal crash
            replies: list[list[str]] = []
            if crash is None:
                try:
                    replies = w.collect(flat)
                except BackendCrash as e:
                    crash = e
            if crash is not None:
                replies = getattr(crash, "partial", [])
            out: list[ProgramResult] = []
            pos = 1
            for plan in plans:
                n = len(plan.lines)
                if pos + n <= len(replies):
                    out.append(programs.parse(plan, replies[pos:pos + n], None))
                    pos += n
                    continue
                out.append(programs.parse(plan, replies[pos:], crash))
                rest = progs[len(out):]
                if rest:
                    out += self.start_programs(rest)()
                break
            return out

        return collect

    def stress(self, threads: int, ops: int, seed: int, size: int, chunk: int) -> str:
        """Threads inside the worker through one ``GpuBuddy``; "0 OPS AVAIL" or "FAIL ..."."""
        return self.worker().request(f"T {threads} {ops} {seed} {size} {chunk}")[0]

    def take_output(self) -> str:
        """What the binding and the C printed since the last call (the case's output)."""
        return self._worker.take_output() if self._worker is not None else ""

    def close(self) -> None:
        for suite in self.suites():
            suite.close()
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

    def is_empty(self) -> bool:
        return self.owner._is_empty(self.handle)

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
        reply = self._w.request(alloc_line(self._slot, mode[0], start, end, size,
                                            min_block_size, flags))[0].split()
        handle, self._next = self._next, self._next + 1
        status = int(reply[0])
        if status != 0:
            raise BuddyError(errno_name(status), "alloc_blocks")
        return RustAllocation(self, handle, reply_blocks(reply))

    def _drop(self, handle: int) -> None:
        self._w.request(f"f {self._slot} {handle}")

    def _is_empty(self, handle: int) -> bool:
        return self._w.request(f"e {self._slot} {handle}")[0].split()[1] == "1"

    def warnings(self) -> list[str]:
        return self._w.warnings()

    def close(self) -> list[str]:
        if self._closed:
            return []
        self._closed = True
        leaked = int(self._w.request(f"z {self._slot}")[0].split()[1])
        warned = self._w.warnings()
        if leaked:  # the C's own fini did not say so: the binding never ran it, or lost some
            warned.insert(0, f"leak: {leaked} block structures still allocated after the "
                             "GpuBuddy and every allocation were dropped")
        return warned
