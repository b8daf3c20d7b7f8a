"""Keeping the harness's own caches small: the runs' corpora, timings, objects and builds."""

from __future__ import annotations

import shutil
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
