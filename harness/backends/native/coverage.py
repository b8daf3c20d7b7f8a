"""A native backend built with gcc's coverage counters, writing them where a run wants.

The coverage build is a cached variant of its own (``build(..., coverage=True)``).
Its objects were compiled in a temporary directory that no longer exists, so
the worker is told, through gcov's ``GCOV_PREFIX``/``GCOV_PREFIX_STRIP``, to
write its ``.gcda`` counters into the run's data directory instead; the
``.gcno`` notes are copied beside them.  Every worker the backend starts
(a crash starts a new one) adds to the same counters, and a ``BUG_ON`` dumps
them before it aborts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.backends.native import _built_variant
from harness.backends.native.backend import NativeBackend
from harness.trees import resolve_tree
from harness.trees.tree import KernelTree


def open_coverage_backend(name: str, data_dir: Path, *, kernel_src: str | None = None,
                          timeout: float = 10.0,
                          log: Callable[[str], None] = print) -> tuple[NativeBackend, KernelTree]:
    """``name`` built with coverage; its counters start from zero in ``data_dir``."""
    tree = resolve_tree(name, kernel_src, log)
    b = _built_variant(tree, log, coverage=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.gcda"):
        old.unlink()
    for note in b.dir.glob("*.gcno"):
        shutil.copyfile(note, data_dir / note.name)
    env = {"GCOV_PREFIX": str(data_dir.resolve()), "GCOV_PREFIX_STRIP": str(len(b.dir.parts) - 1)}
    return NativeBackend(name, tree, b, timeout=timeout, env=env), tree
