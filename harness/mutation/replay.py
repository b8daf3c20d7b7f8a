"""What the unmutated allocator was asked and answered, and asking a mutant the same.

The engine, the fuzzer and the native backend are deterministic: what they send
to the worker next depends only on what it answered so far.  So a mutant that
gives the recorded answers to the recorded requests of a corpus item (or fuzz
program) would, run through the engine, have been sent exactly those requests and
reached the recorded verdict.  Checking that costs one pipelined round trip per
item instead of one per operation, and no engine work; only where an answer
differs (or the worker dies or hangs) does the item have to run for real.  The
schema's worker answers each request as soon as it is done (``BH_FLUSH_EACH``), so
a wait of the timeout for one answer means one request took that long, as when the
engine sends them one at a time.
"""

from __future__ import annotations

import math
import os
import select
import time
from collections import deque
from dataclasses import dataclass, field

from harness.backends.base import BackendCrash
from harness.backends.native.worker import Worker

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class RecordingWorker(Worker):
    """A worker that keeps every request line it was sent and every line it answered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Replays send far more than a pipe holds: a write must return what fitted, not
        # block while the worker blocks on answers nobody reads yet.
        os.set_blocking(self._to, False)
        self.sent: list[bytes] = []
        self.got: list[str] = []
        self._lines: deque[str] = deque()  # lines split off the buffer, not read yet
        self._cpu0, self._wall0 = 0.0, time.monotonic()

    def _send(self, data: bytes) -> None:
        if self._lines:  # unread answers go back where the base class looks for them
            self._buf = ("\n".join(self._lines) + "\n").encode() + self._buf
            self._lines.clear()
        self.sent.append(data)
        self._cpu0, self._wall0 = self._cpu(), time.monotonic()
        super()._send(data)

    def _timed_out(self, where: str) -> None:
        # A hang is the timeout's worth of the worker's own CPU without an answer: on a
        # quiet machine that is the wall-clock timeout, on a loaded one a slow but
        # finishing request (the corpus has one of seconds) is not taken for a hang.
        fd = self._from
        while self._cpu() - self._cpu0 < 0.8 * self.timeout and \
                time.monotonic() - self._wall0 < 10 * self.timeout:
            if select.select([fd], [], [], 0.25)[0]:
                return  # an answer came: the caller reads it
        super()._timed_out(where)

    def _cpu(self) -> float:
        """CPU seconds the worker used so far (infinite where /proc cannot say)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _TICKS
        except (OSError, IndexError, ValueError):
            return math.inf

    def _readline(self, request: str) -> str:
        # A replay's answers arrive by the thousand: split what is buffered once, rather
        # than cutting one line off the front of a large buffer at a time.
        if not self._lines:
            nl = self._buf.rfind(b"\n")
            if nl < 0:
                line = super()._readline(request)
                self.got.append(line)
                return line
            head, self._buf = self._buf[:nl], self._buf[nl + 1:]
            self._lines.extend(head.decode().split("\n"))
        line = self._lines.popleft()
        self.got.append(line)
        return line

    def arrived(self) -> list[str]:
        """The whole lines that arrived and were not read yet."""
        rest = self._buf.split(b"\n")[:-1]
        return list(self._lines) + [line.decode(errors="replace") for line in rest]

    def send_bytes(self, data: bytes) -> None:
        try:
            self._send(data)
        except BrokenPipeError:
            self._died("while sending a request")

    def mark(self) -> tuple[int, int]:
        return len(self.sent), len(self.got)

    def since(self, mark: tuple[int, int]) -> Segment:
        return Segment(b"".join(self.sent[mark[0]:]), tuple(self.got[mark[1]:]))


@dataclass(frozen=True)
class Segment:
    """The requests of one corpus item or fuzz program, as sent, and the lines answered."""

    requests: bytes
    replies: tuple[str, ...]
    replayable: bool = True  # False when the worker died or restarted on the way
    ends_dead: bool = False  # the worker was dead when the item ended
    reached: frozenset[int] = frozenset()  # the mutants whose code the item reached
    cpu: float = 0.0  # seconds of the worker's CPU it took (with every worker it ended)

    def verb_of_reply(self, n: int) -> str:
        """The request that reply line ``n`` answers (a 'w' request is answered by 1 + N)."""
        lines = self.requests.decode().splitlines()
        r = 0
        for req in lines:
            count = 1
            if req.startswith("w") and r < len(self.replies):
                count += int(self.replies[r].split()[0] or 0)
            if n < r + count:
                return req
            r += count
        return lines[-1] if lines else ""


@dataclass
class Replayed:
    """How a mutant's worker answered segments: ``same`` (all of them), else ``differs``,
    ``died`` or ``timeout`` at segment ``at`` (a hang names the request it hung on)."""

    outcome: str
    at: int
    request: str = ""
    crash: BackendCrash | None = None


@dataclass
class Transcript:
    """The unmutated run: corpus items in order, then fuzz programs, on one worker."""

    items: list[Segment] = field(default_factory=list)
    programs: list[Segment] = field(default_factory=list)


def replay(worker: RecordingWorker, segs: list[Segment],
           limits: list[float] | None = None) -> Replayed:
    """Send the requests of ``segs`` in one go and compare the answers as they arrive;
    ``limits``: how long each segment's answers may each be waited for (a hang in a quick
    item is seen on that item's limit, not on the slowest of the window's)."""
    want = [(k, line) for k, seg in enumerate(segs) for line in seg.replies]
    n = 0
    try:
        worker.send_bytes(b"".join(seg.requests for seg in segs))
        while n < len(want):
            if limits is not None:
                worker.timeout = limits[want[n][0]]
            if worker._readline("replay") != want[n][1]:
                return Replayed("differs", want[n][0])
            n += 1
    except BackendCrash as e:
        # Answers that arrived before it hung or died count first: one that differs
        # would have been seen before the hang.
        for line in worker.arrived():
            if n >= len(want) or line != want[n][1]:
                return Replayed("differs", want[min(n, len(want) - 1)][0])
            n += 1
        k = want[n][0] if n < len(want) else len(segs) - 1
        if e.kind == "timeout":
            first = sum(len(seg.replies) for seg in segs[:k])
            return Replayed("timeout", k, segs[k].verb_of_reply(n - first), e)
        return Replayed("died", k, crash=e)
    return Replayed("same", len(segs))


def restore(worker: RecordingWorker, sent: list[bytes], answered: int) -> None:
    """Bring a fresh worker to the state of one that was sent ``sent`` and answered
    ``answered`` lines (the run is deterministic, so it answers the same)."""
    data = b"".join(sent)
    try:
        if data:
            worker.send_bytes(data)
            for _ in range(answered):
                worker._readline("restore")
    except BackendCrash:
        pass  # it did not answer as before (a nondeterministic mutant): the real run says so


