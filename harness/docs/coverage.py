"""Which cases cite which documented items, and which items no case cites.

A case cites an item three ways: its quote lies in the item's documentation
(in a file its ``source.ref`` names), its ref names the item (``drivers/gpu/
buddy.c, gpu_buddy_init``; ``rust/kernel/gpu/buddy.rs, GpuBuddy::avail``;
``module example 2`` is the Rust module), or its ``cites:`` list gives the id.
A quote from the review mail cites no sentence, but its ref may still name an
item of the Rust file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.docs.model import DocItem, Sentence, TreeDocs
from harness.docs.quotes import DRM_FILES, refs
from harness.docs.text import normalize
from harness.docs.tree import docs_source
from harness.spec.model import Case


@dataclass
class Citation:
    case: Case
    how: str  # quote, ref, cites
    sentences: list[Sentence] = field(default_factory=list)  # touched by the quote


@dataclass
class Coverage:
    docs: TreeDocs
    cited: dict[str, list[Citation]]  # item id -> citations, every item present
    waived: dict[str, str]  # item id -> reason, only items of this tree
    # (item id, normalized sentence) -> reason: sentences that state nothing checkable
    waived_sentences: dict[tuple[str, str], str] = field(default_factory=dict)

    def normative(self) -> list[tuple[DocItem, Sentence]]:
        """Every sentence a case should hold: not waived, nor in a waived item."""
        return [(i, s) for i in self.docs.items if i.id not in self.waived
                for _, s in i.sentences()
                if (i.id, normalize(s.text)) not in self.waived_sentences]

    def covered(self) -> list[DocItem]:
        return [i for i in self.docs.items if self.cited[i.id]]

    def uncovered(self) -> list[DocItem]:
        return [i for i in self.docs.items if not self.cited[i.id] and i.id not in self.waived]

    def figure(self) -> tuple[int, int]:
        """(covered, counted): waived items are out of the count."""
        counted = [i for i in self.docs.items if self.cited[i.id] or i.id not in self.waived]
        return len(self.covered()), len(counted)


def build(cases: list[Case], docs: TreeDocs, waivers: dict[str, str],
          sentence_waivers: dict[tuple[str, str], str] | None = None) -> Coverage:
    cited: dict[str, list[Citation]] = {i.id: [] for i in docs.items}
    for case in cases:
        for item, cit in _citations(case, docs):
            have = next((c for c in cited[item.id] if c.case is case), None)
            if have is None:
                cited[item.id].append(cit)
            else:  # one citation per case and item; the quote's sentences are kept
                have.sentences += [s for s in cit.sentences if s not in have.sentences]
                if cit.how == "quote":
                    have.how = "quote"
    ids = set(cited)
    return Coverage(docs, cited, {k: v for k, v in waivers.items() if k in ids},
                    {k: v for k, v in (sentence_waivers or {}).items() if k[0] in ids})


def _citations(case: Case, docs: TreeDocs) -> list[tuple[DocItem, Citation]]:
    out: list[tuple[DocItem, Citation]] = []
    by_id = docs.by_id()
    files = dict(DRM_FILES) if docs.api == "drm_buddy" else {}
    quote = _renamed(case.source.quote, docs) if case.source.quote else None
    for r in refs(case):
        if not r.file:
            continue
        rel = files.get(r.file, r.file)
        item = named(r.symbol, rel, docs)
        if item is not None:
            out.append((item, Citation(case, "ref")))
        if quote and not r.review:
            want = normalize(quote)
            hits = []
            for it in docs.in_file(rel):
                touched = [s for _, s in it.sentences() if _overlap(want, s.text)]
                if touched or want in block_text(docs, it):
                    hits.append((it, Citation(case, "quote", touched)))
            # A quote several items share ("0 on success, ...") cites the one the ref names.
            exact = [h for h in hits if h[0] is item]
            out += exact or hits
    for ident in case.cites:
        if ident in by_id:
            out.append((by_id[ident], Citation(case, "cites")))
    return out


def block_text(docs: TreeDocs, item: DocItem) -> str:
    """The item's comment as written (``@param:`` labels, headings), normalized."""
    text = docs_source(docs, item.file) or ""
    return normalize("\n".join(text.splitlines()[item.line - 1:item.end_line]))


def _overlap(quote: str, sentence: str) -> bool:
    s = normalize(sentence)
    return len(s) >= 8 and (quote in s or s in quote)


_WORD = re.compile(r"(?:struct |enum |union )?[\w:]+")


def named(symbol: str, rel: str, docs: TreeDocs) -> DocItem | None:
    """The item of ``rel`` that a ref's symbol text names, if any."""
    items = docs.in_file(rel)
    first = symbol.split(",")[0].strip()
    if first.startswith("module example") or first == "module":
        return next((i for i in items if i.id == "rust:module"), None)
    m = _WORD.match(first)
    if not m:
        return None
    word = _renamed(m.group(0), docs)
    for ident in (word, f"rust:{word}"):
        hit = next((i for i in items if i.id == ident), None)
        if hit is not None:
            return hit
    return None


def _renamed(text: str, docs: TreeDocs) -> str:
    if docs.api != "drm_buddy":
        return text
    return text.replace("gpu_buddy", "drm_buddy").replace("GPU_BUDDY", "DRM_BUDDY")
