"""The quote check as the spec verbs run it: against the reference tree, or skipped once."""

from __future__ import annotations

import sys

from harness.docs import coverage, quotes, tree
from harness.docs.model import DocItem, TreeDocs
from harness.docs.text import normalize
from harness.spec.model import Case
from harness.spec.position import SpecError
from harness.spec.semantic import did_you_mean

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
