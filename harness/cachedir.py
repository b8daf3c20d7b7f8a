"""Keeping the harness's own caches small: the runs' corpora, timings and objects."""

from __future__ import annotations

from pathlib import Path

KEEP = 16  # entries kept per cache directory: a few corpora and trees in use at a time


def prune(directory: Path, pattern: str, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently written entries (tests make many)."""
    try:
        entries = sorted(directory.glob(pattern), key=lambda p: p.stat().st_mtime)
        for old in entries[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
