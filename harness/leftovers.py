"""Scratch space of unfinished work, named for its owner, and the sweep of what killed runs left.

Builds, fetches and stores write into hidden scratch entries beside their
destination (``.build-PID-XXXX``, ``.tree-7.2-PID-XXXX``, ...) and rename them
into place when done.  A run killed on the way (SIGKILL cannot be handled)
leaves them behind; :func:`sweep`, at the start of every command, removes
those whose owner process is gone, and hidden entries of older harness
versions (no owner in the name) once they are an hour old.  A tree that a
kernel's link points at is never swept, whoever made it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

STALE = 3600.0  # seconds after which an entry without an owner is a leftover
_OWNED = re.compile(r"^\.(.+)-(\d+)-[^-]+$")
# Kept in every swept directory: lock files live as long as the cache.
_KEEP = re.compile(r"^\.lock-")


def prefix(kind: str) -> str:
    """The name prefix of this process's scratch entries of ``kind``."""
    return f".{kind}-{os.getpid()}-"


def scratch(parent: Path, kind: str) -> Path:
    """A new scratch directory under ``parent``, owned by this process."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix(kind), dir=parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _leftover(p: Path, now: float) -> bool:
    m = _OWNED.match(p.name)
    if m:
        return not _alive(int(m[2]))
    try:
        return now - p.lstat().st_mtime > STALE
    except OSError:
        return False


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def sweep_dir(d: Path, now: float | None = None) -> list[Path]:
    """Remove the leftovers among ``d``'s hidden entries; returns what was removed."""
    now = time.time() if now is None else now
    try:
        entries = list(d.iterdir())
    except OSError:
        return []
    targets = set()
    for p in entries:
        if p.is_symlink():
            try:
                targets.add(os.readlink(p))
            except OSError:
                pass
    gone = []
    for p in entries:
        if (p.name.startswith(".") and not _KEEP.match(p.name) and p.name not in targets
                and _leftover(p, now)):
            _remove(p)
            gone.append(p)
    return gone


def sweep(root: Path) -> list[Path]:
    """Leftovers of killed runs in the cache ``root`` and the system's temporary directory
    (downloads of older harness versions went there)."""
    gone = []
    dirs = [root / "kernels", root / "build", root / "build" / "objects", root / "rust"]
    try:
        dirs += [p / "doctests" for p in (root / "rust").iterdir() if not p.name.startswith(".")]
    except OSError:
        pass
    for d in dirs:
        gone += sweep_dir(d)
    now = time.time()
    try:
        for p in Path(tempfile.gettempdir()).glob("buddy-harness-fetch-*"):
            if p.lstat().st_uid == os.getuid() and now - p.lstat().st_mtime > STALE:
                _remove(p)
                gone.append(p)
    except OSError:
        pass
    return gone
