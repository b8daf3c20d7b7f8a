"""Which expectation file judges a backend: the baseline its outcomes are compared against.

A backend named by version (``native@7.2``) has its own file.  A backend that
names a tree on disk (``native@PATH``, ``native`` with ``--kernel-src``, and
the same for any other family, ``FAMILY@PATH``) is judged by the file of the
tree's own version, read from the tree (``Makefile`` VERSION/PATCHLEVEL, or
what ``kernel fetch`` recorded): an unmodified 7.2 tree then has exactly the
known 7.2 findings as expected failures, and whatever else changes is the
edit's doing.  ``--expect-as NAME`` picks a file by hand, ``--expect-as none``
judges against no file at all.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from harness import expectations
from harness.backends.base import CoreBackend
from harness.backends.names import BackendRef
from harness.backends.registry import FAMILIES
from harness.engine.trace import Outcome
from harness.trees.names import VERSION

NONE = "none"

_RELEASE = re.compile(r"^(\d+)\.(\d+)")


def add_expect_as_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expect-as", metavar="NAME", default=None,
                   help="judge every backend by specs/expectations/NAME.yaml (e.g. native@7.2), "
                        "or by none; default: a tree's own version")


def expectation_name(backend_name: str, tree_version: str | None) -> str:
    """``native@/src/linux`` with a 7.2.13 tree -> ``native@7.2``; a version name is kept, and
    so is a patched tree's (``rust@v12.1``: its own file, over its base's)."""
    from harness.trees.patched import base_of

    ref = BackendRef(backend_name)
    if tree_version is None or (ref.what and VERSION.match(ref.what)) or base_of(ref):
        return backend_name
    m = _RELEASE.match(tree_version)
    return f"{ref.family}@{m[1]}.{m[2]}" if m else backend_name


def tree_version(backend: CoreBackend) -> str | None:
    """The version of the kernel tree a backend was built from, if it has one."""
    return backend.tree.version if backend.tree is not None else None


def baseline_name(backend: CoreBackend, override: str | None) -> str | None:
    """The expectation file's name for ``backend``; None for ``--expect-as none``."""
    if override is not None:
        return None if override == NONE else override
    name: str = backend.name
    return expectation_name(name, tree_version(backend))


def name_for(backend_name: str, kernel_src: str | None, override: str | None) -> str | None:
    """As :func:`baseline_name`, from a backend's name alone (reads its tree; never builds)."""
    if override is not None:
        return None if override == NONE else override
    ref = BackendRef(backend_name)
    if (ref.what and VERSION.match(ref.what)) or ref.family not in FAMILIES:
        return backend_name
    from harness.backends.base import BackendUnavailable
    from harness.trees import resolve_tree

    try:  # every family's trees are kernel trees: read the version as native does
        tree = resolve_tree(ref, kernel_src, log=lambda _: None)
    except BackendUnavailable:
        return backend_name  # opening it will say what is wrong
    return expectation_name(backend_name, tree.version)


def load_for(backend: CoreBackend, roots: list[Path], override: str | None,
             log: Callable[[str], None] | None = None) -> expectations.Expectations:
    """The expectations judging ``backend``; says which file when it is not the literal name."""
    name = baseline_name(backend, override)
    own = backend.name
    if name is None:
        if log:
            log(f"{own}: judged against no expectation file (--expect-as none)")
        return expectations.Expectations(NONE)
    exp = expectations.load(roots, name)
    if log and name != own:
        files = [p for p in (expectations.file_for(r, name) for r in roots) if p.is_file()]
        version = tree_version(backend)
        why = f"a Linux {version} tree" if override is None and version else "--expect-as"
        used = ", ".join(map(str, files)) or f"no {name}.yaml found: every case must pass"
        log(f"{own}: {why}, judged against the {name} expectations ({used})")
    return exp


def changed(outcomes: list[Outcome], expected: frozenset[str]) -> list[str]:
    """One line per outcome its baseline did not predict, with the first step that differs."""
    return [f"  {o.case_id}{f'[{o.params}]' if o.params else ''} on {o.backend}: {o.status}: "
            f"{_where(o)}{o.message[:300]}" for o in outcomes if o.status not in expected]


def _where(o: Outcome) -> str:
    """A crash names the step it happened in; a failure's message already does."""
    step = o.trace.crash_step if o.trace is not None and o.status == "crash" else None
    return f"{step}: " if step else ""
