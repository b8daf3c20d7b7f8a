"""The allocator's compile, started before its build's key is known.

After an edit to the allocator's C, gcc on that file is the longest step of the
build, and a source in a state (inode, size, mtime, ctime) the harness has never
seen was most likely edited: nothing is cached for it.  So then its compile starts
at once, in the scratch directory the build then uses, with the very command the
build would run; the key (every header's digest) is worked out while gcc runs.  If
the key names a build that is there after all (a copy of a tree, a touched file, an
edit undone), the compile is ended and its directory removed: nothing it made is
ever used.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import leftovers, procs
from harness.backends.native import digests
from harness.trees.names import cache_root
from harness.trees.tree import LAYOUTS, KernelTree, api_of

OBJ = "allocator.o"

# (source, its state, compiler, flags) that a build was returned for in this process: a
# second backend on the same tree, or a second open, starts nothing.
_done: set[tuple] = set()
# Compiles started from the command line (harness.prelaunch), by the same key, until a build
# takes them; those none takes are ended when the command ends, or else at exit.
_pending: dict[tuple, Started] = {}
_lock = threading.Lock()
_at_exit: list[bool] = []  # the exit handler is registered (once)


@dataclass
class Started:
    proc: subprocess.Popen
    dir: Path  # the build's scratch directory: the build adopts it
    inc: list[str]  # the include options the command was given (their header copied)
    t0: float  # when it started (monotonic), for the build's time
    began: int  # the same, time_ns: an input changed after it makes the build start over


def mark(tree: KernelTree, cc: str, fl: list[str]) -> tuple:
    """What a started compile is for: this source in this state, compiler, flags and cache."""
    return (str(tree.source), digests.state(os.stat(tree.source)), cc, tuple(fl),
            str(cache_root()))


def edited(tree: KernelTree, seen: tuple) -> bool:
    """The source's state is new to this process and to the cache of digests (and no
    compile of it is waiting for its build)."""
    if seen in _done or seen in _pending:
        return False
    return not digests.remembered(tree.source, seen[1], str(tree.root))


def source_new(root: Path) -> bool:
    """An allocator's source under ``root`` is in a state the cache of digests has not seen:
    the cheap first question, before the tree is looked at as a whole."""
    api = api_of(root)
    if api is None:
        return False  # no allocator: the build says so
    source = root / LAYOUTS[api][0]
    return not digests.remembered(source, digests.state(os.stat(source)), str(root))


def done(seen: tuple) -> None:
    _done.add(seen)


def keep(seen: tuple, s: Started) -> None:
    """Hold ``s`` for the build whose :func:`mark` is ``seen``."""
    with _lock:
        if not _at_exit:
            atexit.register(end_pending)
            _at_exit.append(True)
        _pending[seen] = s


def take(seen: tuple) -> Started | None:
    with _lock:
        return _pending.pop(seen, None)


def end_pending() -> None:
    """End every compile no build took."""
    with _lock:
        left = list(_pending.values())
        _pending.clear()
    for s in left:
        end(s)


def start(cmd: list[str], tree: KernelTree, include: Callable[[Path], list[str]],
          parent: Path) -> Started | None:
    """``cmd`` (compiler and flags) on the allocator's source into a new scratch directory
    under ``parent``; None when it cannot be started (the build then says why)."""
    t0, began = time.monotonic(), time.time_ns()  # before gcc can read anything
    d = leftovers.scratch(parent, "build")
    try:
        inc = include(d)
        proc = procs.spawn([*cmd, *inc, "-c", str(tree.source), "-o", str(d / OBJ)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError:
        shutil.rmtree(d, ignore_errors=True)
        return None
    return Started(proc, d, inc, t0, began)


def end(s: Started) -> None:
    """Stop the compile if it still runs and remove its directory, unless the build has
    published it.  SIGTERM first, so gcc removes its temporary files."""
    if s.proc.returncode is None:
        try:
            os.killpg(s.proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            s.proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    procs.end_group(s.proc)
    shutil.rmtree(s.dir, ignore_errors=True)
