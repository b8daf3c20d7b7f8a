"""Suites: what a backend contributes besides the spec cases.

A suite is a family of items that a backend's tree brings with it: the doc examples of the
tree's ``buddy.rs`` (``rustdoc``), the tree's own KUnit tests, lints of its sources.  Each
item is judged like a spec case: one id, one outcome, one message, the same expectation
files, shown by ``run``, ``diff``'s matrix, the JSON and pytest.

Two halves, so pytest can list items without building anything:

- a :class:`SuiteKind` in :data:`KINDS` says which backend families have the suite and how to
  list its item ids from a tree alone (``collect``);
- a backend's ``suites()`` returns a running ``Suite`` (harness.backends.base) per kind it
  has, which builds and runs the items (``start`` may begin that in the background, beside
  the cases) and gives their outcomes.

A new suite is one entry here and one ``Suite`` its backend returns; generic code asks
this module, never a backend's name or attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.backends.base import Suite

if TYPE_CHECKING:
    from harness.trees.tree import KernelTree

__all__ = ["KINDS", "Suite", "SuiteKind", "kinds_for", "register"]


@dataclass(frozen=True)
class SuiteKind:
    name: str  # also the pytest marker of its items
    label: str  # what a row of the diff matrix says it is
    families: frozenset[str]  # backend families whose trees have it
    collect: Callable[[KernelTree], list[str]]  # item ids read from a tree, nothing built


KINDS: dict[str, SuiteKind] = {}


def register(kind: SuiteKind) -> None:
    KINDS[kind.name] = kind


def kinds_for(family: str) -> list[SuiteKind]:
    return [k for k in KINDS.values() if family in k.families]


def _rustdoc_ids(tree: KernelTree) -> list[str]:
    from harness.backends.rust.build import BINDING
    from harness.backends.rust.doctests import extract

    path = tree.root / BINDING
    return [d.id for d in extract(path, BINDING)] if path.is_file() else []


register(SuiteKind("rustdoc", "rustdoc example", frozenset({"rust"}), _rustdoc_ids))


def _lint_ids(tree: KernelTree) -> list[str]:
    from harness.backends.rust.lints import collect

    return collect(tree)


register(SuiteKind("lint", "lint", frozenset({"rust"}), _lint_ids))


def _kunit_ids(tree: KernelTree) -> list[str]:
    from harness.kunit.source import item_ids

    return item_ids(tree)


register(SuiteKind("kunit", "KUnit test", frozenset({"native"}), _kunit_ids))
