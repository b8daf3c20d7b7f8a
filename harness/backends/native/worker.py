"""The worker process that runs the kernel's C, and the line protocol to it.

One request per line, one reply line per request (``csrc/worker_main.c``
documents the verbs).  The worker flushes its replies whenever its input is
drained, so writing a whole batch before reading costs one round trip.

Requests and replies go through two pipes of their own, passed to the worker
as ``BH_PROTOCOL_FDS``: the worker's stdout and stderr are the code under
test's, so a ``printf`` in the allocator is that case's output
(:meth:`Worker.take_output`) and can never be read as a reply.

A worker that dies (signal, ``BUG_ON``, sanitizer report) or stops answering
within the timeout is reaped, and the request raises :class:`BackendCrash`
carrying what it said on the way down.  Its stdout and stderr go to a
temporary file, never a pipe, so a chatty crash cannot block it.

Each worker leads a process group of its own: ending it ends whatever the C
forked too (:mod:`harness.procs` ends every live group on SIGINT/SIGTERM).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence

from harness import procs
from harness.backends.base import SLAB_BUDGET, BackendCrash
from harness.backends.native.speculation import Speculation

# What a case's output keeps (the end of it): enough for a message, bounded for a flood.
OUTPUT_LIMIT = 4000

# A worker ended because it answered a replayed case otherwise than recorded.
REPLAYED = "answered a replayed case otherwise"

BUDGET_ENV = "BH_SLAB_BUDGET"  # the worker's slab budget (SLAB_BUDGET), read at its start

# Sanitizer runs: leaks are expected when a case tears down with blocks still held
# (the allocator's fini leaks them by design), and a report must stop the worker.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:halt_on_error=1:print_summary=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


class Worker:
    """One live worker process."""

    def __init__(self, executable: str, *, timeout: float, sanitize: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile()  # the worker's stdout and stderr, in order
        self._seen = 0  # how much of it take_output has returned
        env = {**os.environ, **(env or {}), BUDGET_ENV: str(SLAB_BUDGET)}
        if sanitize:
            # The caller's own options come after ours, so they win (sanitizers read
            # left to right): ASAN_OPTIONS=detect_leaks=1 turns LeakSanitizer back on.
            for k, v in SANITIZER_ENV.items():
                env[k] = f"{v}:{env[k]}" if env.get(k) else v
        req_r, self._to = os.pipe()
        self._from, rep_w = os.pipe()
        env["BH_PROTOCOL_FDS"] = f"{req_r} {rep_w}"
        env["BH_PARENT_PID"] = str(os.getpid())
        try:
            self.proc = procs.spawn(
                [executable], stdin=subprocess.DEVNULL, stdout=self._stderr,
                stderr=self._stderr, env=env, pass_fds=(req_r, rep_w))
        except BaseException:
            for fd in (self._to, self._from):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
        self._buf = b""
        self.dead: str | None = None
        self.slots = 0  # allocators created, so the number the worker gives the next one
        self.flush_each = False  # its `E` mode: each reply written as soon as it is made
        self.skip = 0  # replies to read and drop first (of requests the caller did not make)
        self.spec: Speculation | None = None  # a case's requests sent ahead (speculation.py)

    # -- requests -----------------------------------------------------------
    def request(self, line: str) -> list[str]:
        return self.pipeline([line])[0]

    def pipeline(self, lines: Sequence[str], extra: Sequence[int] = ()) -> list[list[str]]:
        """Send every line, then read one reply each (``extra[i]`` more lines for line i)."""
        self.send(lines)
        return self.collect(lines, extra)

    def send(self, lines: Sequence[str]) -> None:
        """Send every line without waiting for the replies (read them with :meth:`collect`),
        so the caller can work while the worker does."""
        if self.dead is not None:
            raise BackendCrash(f"the worker died earlier ({self.dead})", "dead")
        if self.spec is not None:
            lines = self.spec.outgoing(self, list(lines))
            if not lines:
                return  # every one went ahead: the replies are on their way
        data = ("\n".join(lines) + "\n").encode()
        try:
            try:
                self._send(data)
            except BrokenPipeError:
                self._died("while sending a request")
        except BackendCrash as e:
            # Replies to the first lines may have come back while the rest was written.
            done = self._buf.split(b"\n")[:-1]
            e.partial = [[x.decode()] for x in done]  # type: ignore[attr-defined]
            raise

    def collect(self, lines: Sequence[str], extra: Sequence[int] = ()) -> list[list[str]]:
        """The replies to ``lines`` sent before. If the worker dies on the way, the
        :class:`BackendCrash` carries the replies read so far as ``partial``."""
        out: list[list[str]] = []
        try:
            while self.skip:
                self._readline("E")
                self.skip -= 1
            for i in range(len(lines)):
                reply = [self._readline(lines[i])]
                if self.spec is not None:
                    self.spec.replied(self, lines[i], reply[0])
                if lines[i].startswith("i ") and reply[0].startswith("0 "):
                    self.slots += 1
                for _ in range(extra[i] if i < len(extra) else 0):
                    reply.append(self._reply_line(lines[i]))
                out.append(reply)
        except BackendCrash as e:
            e.partial = out  # type: ignore[attr-defined]
            raise
        return out

    def warnings(self) -> list[str]:
        """The warnings raised since the last call (the worker forgets them)."""
        n = int(self.request("w")[0])
        return [self._reply_line("w") for _ in range(n)]

    def _reply_line(self, request: str) -> str:
        """One more line of the answer to ``request`` (recorded as the first was)."""
        line = self._readline(request)
        if self.spec is not None:
            self.spec.replied(self, request, line)
        return line

    def unread(self) -> bool:
        """Whether replies came that nobody read."""
        return bool(self._buf)

    def replay(self, data: bytes, expected: bytes, deadline: float) -> bool:
        """Send ``data`` (whole request lines) and read until the replies are ``expected``:
        True if they are, byte for byte, before ``deadline``.  At the first byte that
        differs, at the deadline, or if the worker dies, it is ended (whatever the requests
        did is not to be seen by anyone) and the answer is False."""
        if self.dead is not None or self.skip or self.unread():
            return False
        where = "while replaying a case"
        try:
            self._send(data, deadline)
            while len(self._buf) < len(expected) and expected.startswith(self._buf):
                self._fill(where, self._wait(deadline, where))
        except BackendCrash:
            return False  # ended, and why is in dead
        if self._buf == expected:
            self._buf = b""
            return True
        self.kill()
        self.dead = REPLAYED
        return False

    def _send(self, data: bytes, deadline: float | None = None) -> None:
        # Interleave writing with draining replies: a large batch could otherwise fill
        # both pipes and deadlock.
        fd_in, fd_out = self._to, self._from
        view = memoryview(data)
        where = "while sending a request"
        while view:
            r, w, _ = select.select([fd_out], [fd_in], [], self._wait(deadline, where))
            if not r and not w:
                self._timed_out(where)
            if r:
                self._fill(where, 0)
            if w:
                n = os.write(fd_in, view[: 1 << 16])
                view = view[n:]

    def _readline(self, request: str) -> str:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                return line.decode()
            self._fill(f"on '{_verb(request)}'", self.timeout)

    def _fill(self, where: str, timeout: float) -> None:
        """Replies into the buffer, as soon as there are some within ``timeout``; a worker
        that says nothing so long, or dies, raises :class:`BackendCrash`."""
        r, _, _ = select.select([self._from], [], [], timeout)
        if not r:
            self._timed_out(where)
        chunk = os.read(self._from, 1 << 20)
        if not chunk:
            self._died(where)
        self._buf += chunk

    def _wait(self, deadline: float | None, where: str) -> float:
        """How long one wait may be: the timeout, or less before ``deadline`` (past it, the
        worker is ended as timed out)."""
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            self._timed_out(where)
        return min(self.timeout, left)

    # -- failure ------------------------------------------------------------
    def _timed_out(self, where: str) -> None:
        self.kill()
        self.dead = f"timeout after {self.timeout:g} s {where}"
        raise BackendCrash(f"timeout: no answer after {self.timeout:g} s {where}", "timeout")

    def _died(self, where: str) -> None:
        _exited(self.proc.pid, 5)
        self.kill()  # its group too: a dead worker's forked children must not linger
        code = self.proc.returncode
        text = self.stderr_text()
        kind, message = describe_death(code, text)
        self.dead = message
        raise BackendCrash(f"{message} ({where})", kind)

    def stderr_text(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-20000:].decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def take_output(self) -> str:
        """What the worker printed (stdout and stderr) since the last call, its end kept."""
        try:
            self._stderr.seek(self._seen)
            data = self._stderr.read()
        except (OSError, ValueError):
            return ""
        self._seen += len(data)
        text = data.decode(errors="replace")
        return text if len(text) <= OUTPUT_LIMIT else "..." + text[-OUTPUT_LIMIT:]

    # -- teardown -----------------------------------------------------------
    def kill(self) -> None:
        procs.end_group(self.proc)
        self._close_pipes()

    def close(self) -> str:
        """Ask the worker to quit (kill it if it does not); returns its stderr text."""
        if self.proc.returncode is None and self._to >= 0:
            try:
                os.write(self._to, b"q\n")
                _exited(self.proc.pid, min(self.timeout, 5))
            except OSError:
                pass
        self.kill()  # and whatever it forked, which its exit leaves behind
        text = self.stderr_text()
        self._stderr.close()
        return text

    def _close_pipes(self) -> None:
        for fd in (self._to, self._from):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to = self._from = -1


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``pid`` to exit, leaving it unreaped (its group id stays
    taken, so the group can still be ended safely)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)


def _verb(request: str) -> str:
    names = {"i": "init", "a": "alloc", "f": "free", "t": "trim", "r": "reset_clear",
             "c": "counters", "z": "fini", "w": "warnings", "W": "count warnings",
             "k": "count what teardown left",
             "d": "drop the allocator", "e": "is_empty",
             "F": "arm a failure", "g": "failures fired", "X": "double free",
             "E": "set when replies are written",
             "L": "lose a block structure", "S": "spin"}
    return names.get(request[:1], request[:1])


def describe_death(code: int | None, stderr: str) -> tuple[str, str]:
    """(kind, message) for a worker that exited with ``code`` after printing ``stderr``."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    bug = next((ln for ln in lines if ln.startswith("BUG_ON(")), None)
    oom = next((ln for ln in lines if ln.startswith("OOM: ")), None)
    san = next((ln for ln in lines if ln.startswith("SUMMARY:")
                or "runtime error:" in ln or ln.startswith("==") and "ERROR:" in ln), None)
    if bug:
        return "bug", bug
    panic = next((i for i, ln in enumerate(lines) if " panicked at " in ln), None)
    if panic is not None:  # Rust: "thread 'x' panicked at FILE:LINE:COL:" then the message
        text = " ".join(lines[panic:panic + 2])
        return "panic", re.sub(r"^.*?thread '[^']*'(?: \(\d+\))? panicked at", "panicked at", text)
    if oom:
        return "oom", oom[len("OOM: "):]
    if san:
        return "sanitizer", san.lstrip("=0123456789").strip()
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "signal", f"worker killed by {name}"
    last = lines[-1] if lines else "no message"
    return "exit", f"worker exited with status {code}: {last}"
