"""Cached artifacts are checked before use: size, digest and mode recorded when they were made.

A build directory (the native worker and library, each Rust stage), a fetched kernel
tree (its record file included) or one cached file (a compiled object, a doctest
program) is *sealed* when it is complete: its manifest lists every file with its
size, SHA-256 and whether it is executable.  Before use, :func:`problem` compares
what is there with the manifest; a truncated, altered, missing or no longer
executable file is named, and the caller rebuilds (or refetches) instead of running
a damaged artifact, whose failure would read as the allocator's.

Checks are remembered per process by each file's (size, mtime, inode), so a
directory opened many times in one run is hashed once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import leftovers

MANIFEST = ".manifest.json"  # in a sealed directory
SUFFIX = ".sum"  # beside a sealed file

_verified: set[tuple] = set()


def _digest(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _entry(p: Path) -> dict:
    st = p.stat()
    return {"size": st.st_size, "sha256": _digest(p), "exec": bool(st.st_mode & stat.S_IXUSR)}


def _write(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=leftovers.prefix("seal"), dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def seal(directory: Path) -> None:
    """Record every regular file under ``directory`` (links are not followed)."""
    files = {}
    for p in sorted(directory.rglob("*")):
        if p.name != MANIFEST and p.is_file() and not p.is_symlink():
            files[str(p.relative_to(directory))] = _entry(p)
    _write(directory / MANIFEST, {"files": files})


def seal_file(p: Path) -> None:
    _write(p.with_name(p.name + SUFFIX), _entry(p))


def _check(p: str, want: dict) -> str | None:
    # Plain strings and os calls: a tree is hundreds of files, checked on every open.
    try:
        st = os.lstat(p)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size != want.get("size"):
        return f"{st.st_size} bytes, {want.get('size')} when it was made"
    if want.get("exec") and not st.st_mode & stat.S_IXUSR:
        return "no longer executable"
    key = (p, st.st_size, st.st_mtime_ns, st.st_ino, want.get("sha256"))
    if key in _verified:
        return None
    try:
        if _digest(Path(p)) != want.get("sha256"):
            return "its content changed since it was made"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    _verified.add(key)
    return None


def _record(path: Path) -> dict | str:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return "no record of its contents"
    except (OSError, ValueError):
        return "its record of contents is unreadable"
    return data if isinstance(data, dict) else "its record of contents is unreadable"


def problem(directory: Path) -> str | None:
    """None when ``directory`` is as sealed, else what is wrong (the first file found)."""
    rec = _record(directory / MANIFEST)
    if isinstance(rec, str):
        return rec
    files = rec.get("files")
    if not isinstance(files, dict):
        return "its record of contents is unreadable"
    base = str(directory)
    for rel, want in files.items():
        why = _check(os.path.join(base, rel), want if isinstance(want, dict) else {})
        if why:
            return f"{rel}: {why}"
    return None


def file_problem(p: Path) -> str | None:
    rec = _record(p.with_name(p.name + SUFFIX))
    return rec if isinstance(rec, str) else _check(str(p), rec)


def sealed(directory: Path) -> bool:
    return (directory / MANIFEST).exists()


def damaged(directory: Path) -> str | None:
    """What is wrong with a sealed ``directory``; None when sound or never sealed (a build
    made elsewhere, e.g. a mutant's, is its maker's to check)."""
    return problem(directory) if sealed(directory) else None


def usable(directory: Path) -> bool:
    """``directory`` is there and as sealed; a damaged one is discarded, to be rebuilt."""
    if not directory.exists():
        return False
    if problem(directory) is None:
        return True
    discard(directory)
    return False


def publish(staging: Path, out: Path) -> None:
    """Seal a finished build in ``staging`` and move it to ``out`` in one rename; a sound
    ``out`` another process published first is kept (a damaged one is discarded first)."""
    seal(staging)
    if usable(out):
        return
    try:
        staging.rename(out)
    except OSError:  # published by another process meanwhile
        if not usable(out):
            raise


@contextlib.contextmanager
def one_builder(out: Path) -> Iterator[bool]:
    """Held while ``out`` is built, so processes that want the same build at once (xdist
    workers on a cold cache) build it once: the others wait, then find it published.
    Yields whether ``out`` is usable by then (if so, there is nothing to build)."""
    locks = out.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / out.name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield usable(out)


def build_once(out: Path, make: Callable[[Path], None], scratch: Callable[[], Path]) -> bool:
    """``out``, made by ``make`` in a ``scratch()`` directory and published, unless it is
    there and sound or another process builds it meanwhile; True when this call built it."""
    if usable(out):
        return False
    with one_builder(out) as ready:
        if ready:
            return False
        tmp = scratch()
        try:
            make(tmp)
            publish(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def discard(directory: Path) -> None:
    """Move a damaged ``directory`` out of the way (atomically: a concurrent reader sees it
    whole or not at all), then delete it."""
    aside = directory.with_name(f"{leftovers.prefix('damaged')}{os.urandom(4).hex()}")
    try:
        directory.rename(aside)
    except OSError:
        return  # gone already: another process is rebuilding it
    shutil.rmtree(aside, ignore_errors=True)
