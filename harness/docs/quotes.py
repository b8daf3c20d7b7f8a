"""Where a case's quote comes from, and whether the tree really says it.

A ``source.ref`` is one or more ``FILE, symbol`` references separated by
``;``.  A reference whose file is a kernel path (``drivers/...``,
``include/...``, ``rust/...``) is checked: the quote must appear in that
file, documentation or code, once comment markers and whitespace are set
aside.  A reference that starts with ``review`` names the review mail, which
is not part of any tree: its quote is taken as written and not checked.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from harness.docs.model import TreeDocs
from harness.docs.text import normalize
from harness.docs.tree import docs_source
from harness.spec.model import Case
from harness.spec.position import SpecError
from harness.trees.tree import LAYOUTS

_PATH = re.compile(r"^(?:drivers|include|rust|lib|mm|tools|Documentation)/[\w./-]+\.(?:c|h|rs)$")


@dataclass(frozen=True)
class Ref:
    file: str  # a kernel path, or "" for the review mail
    symbol: str  # what follows the first comma, possibly ""
    review: bool


def refs(case: Case) -> list[Ref]:
    out = []
    for chunk in case.source.ref.split(";"):
        head, _, rest = chunk.strip().partition(",")
        head = head.strip()
        review = head.lower().startswith("review")
        path = head.split()[-1] if review and head.split() else head
        out.append(Ref(path if _PATH.match(path) else "", rest.strip(), review))
    return out


def checked_files(case: Case) -> list[str]:
    """The kernel files the quote of ``case`` must come from (empty: not checked)."""
    return [r.file for r in refs(case) if r.file and not r.review]


def present(quote: str, text: str) -> bool:
    return normalize(quote) in _normalized(text)


@functools.lru_cache(maxsize=32)
def _normalized(text: str) -> str:
    """A whole source file, normalized once per run however many quotes it is searched for."""
    return normalize(text)


def closest(quote: str, text: str) -> tuple[str, float]:
    """The run of words in ``text`` most like ``quote`` and its likeness, for a did-you-mean."""
    want = normalize(quote)
    words = _normalized(text).split(" ")
    n = max(1, len(want.split(" ")))
    best, best_score = "", 0.0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(want)
    # Windows starting on one of the quote's words; every window if none does.
    vocab = {w.lower() for w in want.split(" ")}
    starts = [i for i, w in enumerate(words) if w.lower() in vocab] or range(len(words))
    for size in {max(1, n - 1), n, n + 1}:
        for i in starts:
            cand = " ".join(words[i:i + size])
            matcher.set_seq1(cand)
            if matcher.real_quick_ratio() <= best_score or matcher.quick_ratio() <= best_score:
                continue
            score = matcher.ratio()
            if score > best_score:
                best, best_score = cand, score
    return best, best_score


def check(cases: list[Case], docs: TreeDocs) -> list[SpecError]:
    """One error per case whose quote its kernel file does not contain."""
    errors = []
    for case in cases:
        files = checked_files(case)
        if not files or case.source.quote is None:
            continue
        texts = {f: docs_source(docs, f) for f in files}
        if any(t is not None and present(case.source.quote, t) for t in texts.values()):
            continue
        where = case.source.pos or case.pos
        names = " or ".join(files)
        have = [t for t in texts.values() if t is not None]
        if not have:
            errors.append(SpecError(where, f"{names} is not in the tree of {docs.version}",
                                    "correct the file in source.ref"))
            continue
        near = max((closest(case.source.quote, t) for t in have), key=lambda c: c[1])[0]
        errors.append(SpecError(where, f"quote not found in {names} of {docs.version} "
                                f'(closest: "{near}")'))
    return errors


def absent_in(case: Case, docs: TreeDocs) -> bool:
    """The case's checked quote is not in this tree (a doc that changed or is not there yet).

    A drm_buddy tree (6.1) is read in its own names: ``drivers/gpu/buddy.c`` is
    its ``drm_buddy.c`` and ``gpu_buddy_free_list`` its ``drm_buddy_free_list``.
    """
    files = checked_files(case)
    if not files or case.source.quote is None:
        return False
    quote = case.source.quote
    if docs.api == "drm_buddy":
        files = [DRM_FILES.get(f, f) for f in files]
        quote = quote.replace("gpu_buddy", "drm_buddy").replace("GPU_BUDDY", "DRM_BUDDY")
    return not any((t := docs_source(docs, f)) is not None and present(quote, t)
                   for f in files)


DRM_FILES = dict(zip(LAYOUTS["gpu_buddy"], LAYOUTS["drm_buddy"])) | {
    "drivers/gpu/tests/gpu_buddy_test.c": "drivers/gpu/drm/tests/drm_buddy_test.c"}
