"""The quote check as the spec verbs run it: against the reference tree, or skipped once."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from harness import integrity
from harness.cachedir import read_sealed, specs_dir, write_sealed
from harness.docs import coverage, quotes, tree
from harness.docs.model import DocItem, TreeDocs
from harness.docs.text import normalize
from harness.spec.model import Case
from harness.spec.position import SpecError
from harness.spec.semantic import did_you_mean
from harness.trees import kernels
from harness.trees.tree import LAYOUTS, META

_said_skipped = False


def check_cases(cases: list[Case]) -> tuple[list[SpecError], TreeDocs | None]:
    """Quote and ``cites`` errors of ``cases`` against the reference tree; (errors, tree).

    Without a cached reference tree nothing is checked, and stderr says so once.
    """
    global _said_skipped
    why = f"no cached Linux {tree.REFERENCE} tree (buddy-harness kernel fetch {tree.REFERENCE})"
    try:
        docs = tree.reference()
    except tree.NoTree as e:
        docs, why = None, str(e)
    if docs is None:
        if not _said_skipped:
            print(f"quote check skipped: {why}", file=sys.stderr)
            _said_skipped = True
        return [], None
    errors = quotes.check(cases, docs)
    errors += misattributed(cases, docs)
    ids = docs.by_id()
    for case in cases:
        for i, item in enumerate(case.cites):
            if item not in ids:
                where = case.cite_pos[i] if i < len(case.cite_pos) else case.pos
                hint = did_you_mean(item, list(ids))
                errors.append(SpecError(where, f"cites '{item}', which {docs.version} does not "
                                        "document", hint or "see buddy-harness docs for ids"))
    return errors, docs


def check_cases_cached(cases: list[Case], corpus: str | None) -> list[SpecError]:
    """The errors of :func:`check_cases`; a corpus found clean is remembered (sealed) under a
    key of the corpus (``corpus``, :func:`harness.spec.cache.load_paths_keyed`), the bytes of
    every reference-tree file a quote is looked for in and this package's code, so an edit
    loop does not extract the tree's documentation again on every run."""
    key = _check_key(cases, corpus) if corpus is not None else None
    if key is None:
        return check_cases(cases)[0]
    clean = specs_dir() / f"{key}.quotes"
    if read_sealed(clean) is True:
        return []
    errors, docs = check_cases(cases)
    if not errors and docs is not None:
        write_sealed(clean, True)
    return errors


def _check_key(cases: list[Case], corpus: str) -> str | None:
    """None when there is no cached reference tree (the check says so itself)."""
    root = Path(os.path.realpath(kernels.kernels_dir() / tree.REFERENCE))
    if not (root / META).is_file():
        return None
    h = hashlib.sha256(corpus.encode())
    code = Path(__file__).parent
    for p in sorted(code.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    files = {f for pair in LAYOUTS.values() for f in pair} | {tree.RUST_FILE, META,
                                                                integrity.MANIFEST}
    files |= {f for case in cases for f in quotes.checked_files(case)}
    for rel in sorted(files):
        try:
            data = (root / rel).read_bytes()
        except OSError:
            data = b"\0absent"
        h.update(f"\0{root}/{rel}\0".encode() + data)
    return h.hexdigest()[:32]


def misattributed(cases: list[Case], docs: TreeDocs) -> list[SpecError]:
    """Quotes whose ref names one documented item but which another item's comment holds.

    A quote may come from the named item's comment or from the code that follows it
    (up to the next documented item); found only in another item's comment, the ref
    names the wrong symbol.  (A quote found in no comment is the quote check's error.)
    """
    out = []
    for case in cases:
        q = case.source.quote
        if q is None:
            continue
        want = normalize(q)
        for r in quotes.refs(case):
            if not r.file or r.review:
                continue
            named = coverage.named(r.symbol, r.file, docs)
            if named is None or want in _extent(docs, named):
                continue
            owners = [i.id for i in docs.in_file(r.file)
                      if i is not named and want in coverage.block_text(docs, i)]
            if owners:
                out.append(SpecError(case.source.pos or case.pos,
                                     f"quote is from the documentation of {owners[0]}, not of "
                                     f"{named.id} ({r.file} of {docs.version})",
                                     f"name {owners[0]} in source.ref"))
    return out


def _extent(docs: TreeDocs, item: DocItem) -> str:
    """The item's comment and the code after it, up to the next documented item."""
    text = (tree.docs_source(docs, item.file) or "").splitlines()
    later = [i.line for i in docs.in_file(item.file) if i.line > item.line]
    end = min(later) - 1 if later else len(text)
    return normalize("\n".join(text[item.line - 1:end]))
