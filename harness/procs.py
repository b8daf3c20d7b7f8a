"""Child processes in groups of their own, and the one handler that ends them on a signal.

Every process the harness starts to run code under test (native and Rust
workers) leads a process group of its own, registered here: ending the group
ends whatever the C forked as well.  :func:`handling` sets one handler for
SIGINT and SIGTERM: it ends every registered group and every process-pool
child at once (so no worker is left spinning and nothing waits on a dead
pipe), then raises :class:`Interrupted` in the main thread, which the verbs
catch like Ctrl-C to print and write what has finished; the exit code is
128 + the signal's number (130, 143).

A group is ended before its leader is reaped: the leader's pid stays taken
until then, so the group id cannot have been handed to anyone else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()  # the handler may run while the main thread holds it
_live: dict[int, subprocess.Popen] = {}  # group id (the leader's pid) -> leader
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM: what has finished is reported, then exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(e: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + getattr(e, "signum", signal.SIGINT)


def spawn(cmd: list[str], **kw: Any) -> subprocess.Popen:
    """``Popen`` in a new session (its own group, no terminal: Ctrl-C is ours to handle)."""
    with _lock:
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        _live[p.pid] = p
    return p


def end_group(p: subprocess.Popen) -> None:
    """SIGKILL ``p``'s whole group, then reap ``p``."""
    if p.returncode is None:
        _kill_group(p.pid)
    p.wait()
    with _lock:
        _live.pop(p.pid, None)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def end_all() -> None:
    """End every registered group and every process-pool child (which end theirs)."""
    with _lock:
        groups = [pid for pid, p in _live.items() if p.returncode is None]
    for pgid in groups:
        _kill_group(pgid)
    # A process that never imported multiprocessing has no pool children (and start-up
    # does not pay for importing it).
    mp = sys.modules.get("multiprocessing")
    children = mp.active_children() if mp is not None else []
    for c in children:
        c.terminate()  # SIGTERM: the child's own handler ends its groups first
    deadline = time.monotonic() + 2
    for c in children:
        c.join(max(0.0, deadline - time.monotonic()))
        if c.is_alive():
            c.kill()


def _handler(signum: int, _frame: Any) -> None:
    for s in SIGNALS:  # a second signal while reporting must not cut the report short
        signal.signal(s, signal.SIG_IGN)
    end_all()
    raise Interrupted(signum)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """The handler for SIGINT and SIGTERM while the block runs (main thread only; a SIGINT
    the shell made us ignore, as for a background job, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.getsignal(s) for s in SIGNALS}
    for s, h in before.items():
        if h is not signal.SIG_IGN:
            signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def install_in_child() -> None:
    """For a process-pool child: SIGTERM ends its own groups and exits; SIGINT is the
    parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum: int, _frame: Any) -> None:
        end_all()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


def run(argv: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True, timeout=...)`` in a group of
    its own, ended afterwards (with whatever the program forked)."""
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end_group(p)
        p.communicate()
        raise
    finally:
        end_group(p)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)
