"""What changed in the documentation between two trees, and which cases that touches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.docs import coverage, quotes
from harness.docs.model import DocItem, TreeDocs
from harness.results.render import render
from harness.spec.model import Case


@dataclass
class Change:
    item: str
    kind: str  # added, removed, changed
    old: DocItem | None
    new: DocItem | None
    parts: list[str] = field(default_factory=list)  # which parts changed
    cases: list[str] = field(default_factory=list)  # cases citing it, in either tree


@dataclass
class Drift:
    a: TreeDocs
    b: TreeDocs
    changes: list[Change]
    unchanged: int
    stale_quotes: dict[str, list[str]]  # tree name -> cases whose quote it lacks


def name(t: TreeDocs) -> str:
    """The release, or the name given and the release when they differ (a patched tree)."""
    label = Path(t.label).name
    return t.version if t.version.startswith(label) else f"{label} ({t.version})"


def compare(a: TreeDocs, b: TreeDocs, cases: list[Case]) -> Drift:
    ca, cb = coverage.build(cases, a, {}), coverage.build(cases, b, {})
    # Across API families (6.1's drm_buddy, gpu_buddy after) an item keeps its identity.
    ia, ib = ({_family(k, t, a.api != b.api): v for k, v in t.by_id().items()} for t in (a, b))
    changes: list[Change] = []
    same = 0
    for ident in list(dict.fromkeys([*ia, *ib])):
        old, new = ia.get(ident), ib.get(ident)
        cited = sorted({c.case.id for c in ca.cited.get(old.id if old else "", [])
                        + cb.cited.get(new.id if new else "", [])})
        if old is None:
            changes.append(Change(ident, "added", None, new, cases=cited))
        elif new is None:
            changes.append(Change(ident, "removed", old, None, cases=cited))
        else:
            across = a.api != b.api
            pa = {p.name: _family(p.text, a, across) for p in old.parts}
            pb = {p.name: _family(p.text, b, across) for p in new.parts}
            diff = [n for n in dict.fromkeys([*pa, *pb]) if pa.get(n) != pb.get(n)]
            if diff:
                changes.append(Change(ident, "changed", old, new, diff, cited))
            else:
                same += 1
    stale = {name(t): [c.id for c in cases if quotes.absent_in(c, t)] for t in (a, b)}
    return Drift(a, b, changes, same, stale)


def terminal(d: Drift) -> str:
    lines = [f"Documentation drift from Linux {name(d.a)} to {name(d.b)}: "
             + ", ".join(f"{sum(c.kind == k for c in d.changes)} {k}"
                         for k in ("added", "removed", "changed"))
             + f", {d.unchanged} unchanged"]
    for ch in d.changes:
        where = ch.new or ch.old
        parts = f" ({', '.join(ch.parts)})" if ch.parts else ""
        lines.append(f"  {ch.kind:<8} {ch.item}{parts}  {where.file}:{where.line}")
        if ch.cases:
            lines.append(f"           cited by: {', '.join(ch.cases)}")
    for version, ids in d.stale_quotes.items():
        more = f", ... and {len(ids) - 8} more (--markdown lists all)" if len(ids) > 8 else ""
        lines.append(f"quotes absent from {version}: {len(ids)}"
                     + (f" ({', '.join(ids[:8])}{more})" if ids else ""))
    return "\n".join(lines) + "\n"


def model(d: Drift) -> dict:
    """The drift as data, as the Markdown report is rendered from it."""
    return {"from": name(d.a), "to": name(d.b), "unchanged": d.unchanged,
            "changes": [{"item": ch.item, "kind": ch.kind, "parts": ch.parts,
                         "file": (ch.new or ch.old).file, "line": (ch.new or ch.old).line,
                         "cases": ch.cases} for ch in d.changes],
            "stale_quotes": d.stale_quotes}


def markdown(d: Drift) -> str:
    return render("drift.md.j2", **model(d))


def _family(ident: str, docs: TreeDocs, across: bool) -> str:
    """An id or text in gpu_buddy's names, when comparing across API families."""
    if across and docs.api == "drm_buddy":
        return _DRM_WORD.sub(lambda m: "gpu_" if m.group(0) == "drm_" else "GPU", ident)
    return ident


_DRM_WORD = re.compile(r"\bdrm_|\bDRM(?=\b|_)")
