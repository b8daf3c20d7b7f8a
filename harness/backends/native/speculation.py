"""A case's requests sent ahead: the lines the same case sent on the last run, in one write.

Most of a native corpus's time is round trips: the engine sends a line, waits for the
worker's reply, judges it, sends the next.  The engine's requests are a function of the
replies, and in an edit loop the replies rarely change, so the lines a case sent last
time predict the lines it sends now.  They are written to the worker at the case's first
request, all at once; the worker answers them in order while the engine works, and each
request the engine then makes is compared with the next line sent ahead: equal, its reply
is already on its way and nothing is sent.

The prediction only saves time, it never decides anything: the worker runs exactly the
lines the engine asks for, in the order it asks.  When the engine asks for another line
than the one sent ahead, or the case ends before every line sent ahead was asked for, the
worker has run lines the engine did not ask for: it is killed and the case is
*mispredicted* (:meth:`Speculation.clean` is False); the caller runs it again without a
prediction, and that outcome is the case's.  A prediction whose first line is not the
case's first request is dropped before anything is sent.

Lines name an allocator by the number the worker gave it (``a MM ...``), which depends on
what the worker ran before; a recorded line names it relative to the case's first
allocator (``a @0 ...``) and is given the number the worker will give it when sent.  The
replies are recorded too (``init``'s names its allocator the same way), so that the next
run can tell whether the worker still answers the case as it did (harness.lastrun).
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING

from harness.backends.base import BackendCrash

if TYPE_CHECKING:
    from harness.backends.native.worker import Worker

# Requests whose first field is an allocator's number (csrc/worker_main.c).
_NAMES_MM = frozenset("afrtczkdeX")
MISPREDICTED = "mispredicted"
_AT = re.compile(r"@(\d+)")


def materialize(text: str, base: int) -> str:
    """Recorded text with each ``@K`` the number of the worker's allocator ``base + K``."""
    return _AT.sub(lambda m: str(base + int(m[1])), text) if "@" in text else text


class Speculation:
    """One case's prediction (``predicted``: recorded lines, or None) and its record."""

    def __init__(self, predicted: list[str] | None) -> None:
        self._pending = predicted or None
        self._ahead: deque[str] = deque()
        self._to: Worker | None = None  # the worker the lines were sent ahead to
        self.broken = False
        self._log: list[str] | None = []
        self._replies: list[str] | None = []
        self._base: tuple[Worker, int] | None = None  # (worker, its allocators at the start)

    @property
    def clean(self) -> bool:
        """Every line sent ahead was asked for, in order, and nothing else was run."""
        return not self.broken and not self._ahead

    @property
    def log(self) -> list[str] | None:
        """The case's requests, recorded (None when they cannot be: several workers)."""
        return self._log

    @property
    def replies(self) -> str | None:
        """Every reply line the case read, recorded (None when they cannot be)."""
        if self._log is None or self._replies is None:
            return None
        return "".join(f"{r}\n" for r in self._replies)

    def replied(self, worker: Worker, request: str, reply: str) -> None:
        """Record ``reply``, one line of the answer to ``request``."""
        if self._replies is None or self._base is None or self._base[0] is not worker:
            self._replies = None
            return
        if "@" in reply:  # a reply that reads like a marker cannot be told from one
            self._replies = None
            return
        if request.startswith("i ") and reply.startswith("0 "):  # "0 MM SIZE"
            f = reply.split(" ")
            f[1] = f"@{int(f[1]) - self._base[1]}"
            reply = " ".join(f)
        self._replies.append(reply)

    def outgoing(self, worker: Worker, lines: list[str]) -> list[str]:
        """Of the requests ``lines``, those still to be written (the rest went ahead);
        raises a ``mispredicted`` crash when the worker ran lines not asked for."""
        for line in lines:
            self._record(worker, line)
        if self._pending is not None:
            ahead = self._materialize(self._pending, worker.slots)
            self._pending = None
            if ahead[:len(lines)] != lines:
                return lines  # dropped: nothing was sent ahead
            self._to = worker
            self._ahead = deque(ahead[len(lines):])
            if worker.flush_each:
                return ahead
            # Replies one by one, so a line that crashes or hangs leaves those before it read.
            worker.flush_each = True
            worker.skip += 1
            return ["E 1", *ahead]
        if not self._ahead:
            return lines
        for i, line in enumerate(lines):
            if not self._ahead:
                return lines[i:]
            if worker is not self._to or self._ahead[0] != line:
                self.broken = True
                worker.kill()
                worker.dead = MISPREDICTED
                raise BackendCrash("the requests sent ahead were not the ones asked for",
                                   MISPREDICTED)
            self._ahead.popleft()
        return []

    def _record(self, worker: Worker, line: str) -> None:
        if self._log is None:
            return
        if self._base is None:
            self._base = (worker, worker.slots)
        w, base = self._base
        verb, _, rest = line.partition(" ")
        if verb in _NAMES_MM and rest:
            mm, _, tail = rest.partition(" ")
            k = int(mm) - base if mm.isdigit() else -1
            if k < 0:
                self._log = None  # an allocator of an earlier case: not this case's to say
                return
            line = f"{verb} @{k}" + (f" {tail}" if tail else "")
        if w is not worker:
            self._log = None
            return
        self._log.append(line)

    @staticmethod
    def _materialize(lines: list[str], base: int) -> list[str]:
        return materialize("\n".join(lines), base).split("\n") if lines else []

    def end(self) -> None:
        """After the case: a worker that ran lines not asked for is killed."""
        if self._ahead and self._to is not None and self._to.dead is None:
            self._to.kill()
            self._to.dead = MISPREDICTED
