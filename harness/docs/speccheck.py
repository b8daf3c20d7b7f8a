"""The quote check as the spec verbs run it: against the reference tree, or skipped once."""

from __future__ import annotations

import sys

from harness.docs import quotes, tree
from harness.docs.model import TreeDocs
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
    ids = docs.by_id()
    for case in cases:
        for i, item in enumerate(case.cites):
            if item not in ids:
                where = case.cite_pos[i] if i < len(case.cite_pos) else case.pos
                hint = did_you_mean(item, list(ids))
                errors.append(SpecError(where, f"cites '{item}', which {docs.version} does not "
                                        "document", hint or "see buddy-harness docs for ids"))
    return errors, docs
