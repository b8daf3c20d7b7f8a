"""Where a tree's KUnit file for the allocator is, and what cases it declares (read, not built)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.trees.tree import KernelTree

# The allocator's KUnit file in each layout, with the units it links (its random helpers).
FILES = {
    "gpu_buddy": ("drivers/gpu/tests/gpu_buddy_test.c", ("drivers/gpu/tests/gpu_random.c",)),
    "drm_buddy": ("drivers/gpu/drm/tests/drm_buddy_test.c", ("drivers/gpu/drm/lib/drm_random.c",)),
}
PREFIX = "kunit"

_CASES = re.compile(r"struct\s+kunit_case\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\}\s*;", re.S)
_CASE = re.compile(r"\bKUNIT_CASE(_SLOW|_ATTR|_PARAM|_PARAM_ATTR)?\s*\(\s*(\w+)")
_SUITE = re.compile(r"struct\s+kunit_suite\s+(\w+)\s*=\s*\{(.*?)\n\s*\}\s*;", re.S)


@dataclass(frozen=True)
class Case:
    suite: str
    name: str
    slow: bool
    line: int  # of its KUNIT_CASE line

    @property
    def id(self) -> str:
        return f"{PREFIX}.{self.suite}.{self.name}"


@dataclass(frozen=True)
class KunitFile:
    tree: KernelTree
    rel: str  # the test file, relative to the tree
    helpers: tuple[str, ...]  # other units it needs that the tree has
    cases: tuple[Case, ...]

    @property
    def path(self) -> Path:
        return self.tree.root / self.rel


def find(tree: KernelTree) -> KunitFile | None:
    """The tree's KUnit file for its allocator, or None if it has none."""
    rel, helpers = FILES[tree.api]
    path = tree.root / rel
    if not path.is_file():
        return None
    text = path.read_text(errors="replace")
    return KunitFile(tree, rel, tuple(h for h in helpers if (tree.root / h).is_file()),
                     tuple(cases(text)))


def cases(text: str) -> list[Case]:
    """Every case of every suite the file registers, in the order KUnit runs them."""
    arrays = {m[1]: (m.start(2), m[2]) for m in _CASES.finditer(text)}
    out = []
    for m in _SUITE.finditer(text):
        body = m[2]
        name = re.search(r"\.name\s*=\s*\"([^\"]*)\"", body)
        table = re.search(r"\.test_cases\s*=\s*(\w+)", body)
        if not (name and table and table[1] in arrays):
            continue
        start, entries = arrays[table[1]]
        for c in _CASE.finditer(entries):
            line = text.count("\n", 0, start + c.start()) + 1
            out.append(Case(name[1], c[2], c[1] == "_SLOW", line))
    return out


def module_name(kf: KunitFile) -> str:
    """The module kbuild makes of the test file: the composite object its directory's
    Makefile puts it in (``gpu_buddy_tests-y = gpu_buddy_test.o ...``), else its own name."""
    stem = Path(kf.rel).stem
    try:
        makefile = (kf.path.parent / "Makefile").read_text(errors="replace")
    except OSError:
        return stem
    m = re.search(rf"^(\w+)-(?:y|objs)\s*[:+]?=.*\b{re.escape(stem)}\.o\b", makefile, re.M)
    return m[1] if m else stem


def item_ids(tree: KernelTree) -> list[str]:
    found = find(tree)
    return [c.id for c in found.cases] if found else []
