"""Keeping the harness's own caches small: the runs' corpora, timings, objects and builds."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

KEEP = 16  # entries kept per cache directory: a few corpora and trees in use at a time


def prune(directory: Path, pattern: str, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently written entries (tests make many)."""
    try:
        entries = sorted(directory.glob(pattern), key=lambda p: p.stat().st_mtime)
        for old in entries[:-keep]:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def specs_dir() -> Path:
    """Where what is read from spec files is kept (corpora, expectation files, checks)."""
    from harness.trees.names import cache_root

    return cache_root() / "specs"


def read_sealed(path: Path) -> object | None:
    """What :func:`write_sealed` kept at ``path``; None (and the entry gone) when it is
    absent, damaged or not loadable, so the caller reads its source again."""
    from harness import integrity

    if not path.exists():
        return None
    if integrity.file_problem(path) is None:
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # from another harness's classes
            pass
    for p in (path, path.with_name(path.name + integrity.SUFFIX)):
        p.unlink(missing_ok=True)
    return None


def write_sealed(path: Path, value: object) -> None:
    """Keep ``value`` at ``path`` atomically, sealed; a cache that cannot be written only
    costs the next run a reload."""
    from harness import integrity

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        integrity.seal_file(path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
    prune(path.parent, f"*{path.suffix}")
    prune(path.parent, f"*{path.suffix}{integrity.SUFFIX}")
