"""The documentation of a kernel tree: which files, which release, extracted once per run."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from harness.backends.base import BackendUnavailable
from harness.docs import kerneldoc, rustdoc
from harness.docs.model import TreeDocs
from harness.trees import kernels
from harness.trees.tree import LAYOUTS, inspect

# The version the reference model follows, and so the one quotes are checked against.
REFERENCE = "7.2"
RUST_FILE = "rust/kernel/gpu/buddy.rs"


class NoTree(Exception):
    """No such tree; the message says how to get one."""


def locate(spec: str) -> Path:
    """A cached version (``7.2``) or a path to a tree."""
    cached = kernels.locate(spec)
    if cached is not None:
        return cached
    p = Path(spec).expanduser()
    if p.is_dir():
        return p
    if re.fullmatch(r"\d+\.\d+", spec):
        raise NoTree(f"{spec}: no cached kernel tree of that version "
                     f"(run: buddy-harness kernel fetch {spec}, or give a tree's path)")
    raise NoTree(f"{spec}: no such directory (give a kernel tree's path or a cached version "
                 "such as 7.2)")


def load(spec: str) -> TreeDocs:
    """Every documented item of the tree ``spec`` names (a cached version or a path)."""
    return _load(locate(spec).resolve(), spec)


@functools.lru_cache(maxsize=8)
def _load(root: Path, label: str) -> TreeDocs:
    try:
        tree = inspect(root)
    except BackendUnavailable as e:
        raise NoTree(str(e)) from None
    source, header = LAYOUTS[tree.api]
    docs = TreeDocs(label=label, version=tree.version, root=root, api=tree.api)
    for rel in (header, source):
        docs.items += kerneldoc.extract(rel, docs_source(docs, rel) or "")
    rust = docs_source(docs, RUST_FILE)
    if rust is not None:
        docs.items += rustdoc.extract(RUST_FILE, rust)
    return docs


def docs_source(docs: TreeDocs, rel: str) -> str | None:
    """The text of ``rel`` in the tree (cached on ``docs``), or None when it has no such file."""
    if rel not in docs.sources:
        p = docs.root / rel
        if not p.is_file():
            return None
        docs.sources[rel] = p.read_text(encoding="utf-8", errors="replace")
    return docs.sources[rel]


def reference() -> TreeDocs | None:
    """The reference tree's docs when it is cached, else None (the quote check is skipped)."""
    if kernels.locate(REFERENCE) is None:
        return None
    return load(REFERENCE)
