"""Coverage reports: the terminal listing, Markdown, and one self-contained HTML page.

Every documented sentence is marked by the cases whose quote touches it:
*held* (they pass on the C), *contradicted* (a case fails on the C, listed in
the expectation files: a finding, shown with its evidence), *untested* (the
citing cases were skipped), or *not covered*.
"""

from __future__ import annotations

from collections import Counter

from harness.docs.coverage import Citation, Coverage
from harness.docs.kdoc_tool import KdocRun
from harness.docs.model import DocItem, Sentence
from harness.docs.outcomes import CaseOutcome
from harness.results.render import render

MARKS = ("held", "contradicted", "untested", "cited", "not covered")
FINDINGS = "specs/FINDINGS.md"


def sentence_status(cits: list[Citation], outcomes: dict[str, CaseOutcome]) -> str:
    if not cits:
        return "not covered"
    if not outcomes:
        return "cited"
    verdicts = {outcomes[c.case.id].verdict() for c in cits if c.case.id in outcomes}
    for v in ("contradicted", "held", "untested"):
        if v in verdicts:
            return v
    return "cited"


def _by_sentence(cov: Coverage, item: DocItem) -> dict[Sentence, list[Citation]]:
    out: dict[Sentence, list[Citation]] = {}
    for cit in cov.cited[item.id]:
        for s in cit.sentences:
            out.setdefault(s, []).append(cit)
    return out


def _item_state(cov: Coverage, item: DocItem) -> str:
    if cov.cited[item.id]:
        return "covered"
    return "waived" if item.id in cov.waived else "uncovered"


def _backends(outcomes: dict[str, CaseOutcome]) -> list[str]:
    seen: dict[str, None] = {}
    for o in outcomes.values():
        seen.update(dict.fromkeys(o.statuses))
    return list(seen)


def _figure_line(cov: Coverage) -> str:
    n, m = cov.figure()
    return (f"documented items covered {n}/{m} ({len(cov.waived)} waived, "
            f"{len(cov.docs.items)} documented) in Linux {cov.docs.version}")


def _counts(cov: Coverage, outcomes: dict[str, CaseOutcome]) -> Counter:
    c: Counter = Counter()
    for item in cov.docs.items:
        marks = _by_sentence(cov, item)
        for _, s in item.sentences():
            c[sentence_status(marks.get(s, []), outcomes)] += 1
    return c


def normative_figure(cov: Coverage, outcomes: dict[str, CaseOutcome]) -> tuple[int, int]:
    """(normative sentences held or contradicted, normative sentences)."""
    done = 0
    marks = {item.id: _by_sentence(cov, item) for item in cov.docs.items}
    normative = cov.normative()
    for item, s in normative:
        if sentence_status(marks[item.id].get(s, []), outcomes) in ("held", "contradicted"):
            done += 1
    return done, len(normative)


def _normative_line(cov: Coverage, outcomes: dict[str, CaseOutcome]) -> str:
    n, m = normative_figure(cov, outcomes)
    return (f"normative sentences held or contradicted {n}/{m} "
            f"({len(cov.waived_sentences)} sentences waived as not normative)")


def _kdoc_line(cov: Coverage, kd: KdocRun | None) -> str:
    if kd is None:
        return "the tree has no kernel-doc parser to compare with"
    if not kd.names:
        return f"{kd.tool} gave no items to compare with: {'; '.join(kd.warnings)}"
    mine: dict[str, set[str]] = {}
    for i in cov.docs.items:
        if not i.id.startswith("rust:"):
            mine.setdefault(i.file, set()).add(i.name)
    diff = sorted(n for f in set(mine) | set(kd.names)
                  for n in mine.get(f, set()) ^ kd.names.get(f, set()))
    agree = sum(len(v) for v in kd.names.values())
    text = (f"the tree's kernel-doc ({kd.tool}) finds the same {agree} items" if not diff
            else f"the tree's kernel-doc ({kd.tool}) disagrees on: {', '.join(diff)}")
    return text + (f"; its warnings: {'; '.join(kd.warnings)}" if kd.warnings else "")


# -- the results model ------------------------------------------------------------

def model(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> dict:
    """The report as data: what ``docs --json`` writes and the Markdown and HTML render."""
    d = cov.docs
    n, m = cov.figure()
    out: dict = {
        "tree": {"label": d.label, "version": d.version, "root": str(d.root)},
        "figure": {"covered": n, "counted": m, "waived": len(cov.waived),
                   "documented": len(d.items), "text": _figure_line(cov)},
        "kernel_doc": _kdoc_line(cov, kd),
        "ran": bool(outcomes),
        "backends": _backends(outcomes),
        "files": [{"file": rel, "items": [_item_model(cov, i, outcomes) for i in d.in_file(rel)]}
                  for rel in dict.fromkeys(i.file for i in d.items)],
        "uncovered": [i.id for i in cov.uncovered()],
        "cases": [_case_model(c, outcomes) for c in _citing_cases(cov)],
        "findings": FINDINGS,
    }
    if outcomes:
        c = _counts(cov, outcomes)
        done, normative = normative_figure(cov, outcomes)
        out["sentences"] = {k: c[k] for k in MARKS if c[k]}
        out["normative"] = {"done": done, "of": normative,
                            "waived": len(cov.waived_sentences),
                            "text": _normative_line(cov, outcomes)}
    return out


def _item_model(cov: Coverage, item: DocItem, outcomes: dict[str, CaseOutcome]) -> dict:
    marks = _by_sentence(cov, item)
    state = _item_state(cov, item)

    def sentence(s: Sentence) -> dict:
        cits = marks.get(s, [])
        return {"text": s.text, "line": s.line, "status": sentence_status(cits, outcomes),
                "cases": [c.case.id for c in cits]}

    return {"id": item.id, "kind": item.kind, "file": item.file, "line": item.line,
            "state": state, "waived": cov.waived.get(item.id) if state == "waived" else None,
            "parts": [{"name": p.name, "line": p.line,
                       "sentences": [sentence(s) for s in p.sentences]} for p in item.parts],
            "cited_whole": [{"case": c.case.id, "how": c.how}
                            for c in cov.cited[item.id] if not c.sentences]}


def _case_model(case, outcomes: dict[str, CaseOutcome]) -> dict:
    o = outcomes.get(case.id)
    return {"id": case.id, "anchor": _anchor(case.id), "title": case.title, "file": case.file,
            "line": case.pos.line,
            "outcomes": {b: o.summary(b) for b in _backends(outcomes)} if o else {},
            "verdict": o.verdict() if o else None,
            "evidence": [{"backend": b, "text": r[0]} for b, r in _evidence(o) if r]
            if o and o.verdict() == "contradicted" else []}


# -- terminal -------------------------------------------------------------------

def terminal(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> str:
    d = cov.docs
    lines = [f"Documentation of Linux {d.version} ({d.root}): {len(d.items)} items",
             _kdoc_line(cov, kd), ""]
    backends = _backends(outcomes)
    for item in d.items:
        state = _item_state(cov, item)
        lines.append(f"{item.file}:{item.line}  {item.id}  [{state}]")
        if state == "waived":
            lines.append(f"    waived: {cov.waived[item.id]}")
        for cit in cov.cited[item.id]:
            res = "  ".join(f"{b}: {outcomes[cit.case.id].summary(b)}" for b in backends
                            if cit.case.id in outcomes)
            lines.append(f"    {cit.case.id} ({cit.how})" + (f"  {res}" if res else ""))
    lines.append("")
    unc = cov.uncovered()
    lines.append(f"not covered ({len(unc)}): " + (", ".join(i.id for i in unc) or "none"))
    if outcomes:
        c = _counts(cov, outcomes)
        lines.append("sentences: " + ", ".join(f"{c[m]} {m}" for m in MARKS if c[m]))
        lines.append(_normative_line(cov, outcomes))
    lines.append(_figure_line(cov))
    return "\n".join(lines) + "\n"


def _evidence(o: CaseOutcome) -> list[tuple[str, list[str]]]:
    """Each backend's failure texts, the kernel's own code before a model's."""
    return sorted(o.reasons.items(), key=lambda kv: kv[0] not in o.from_tree)


def _citing_cases(cov: Coverage) -> list:
    seen: dict[str, object] = {}
    for cits in cov.cited.values():
        for c in cits:
            seen.setdefault(c.case.id, c.case)
    return [seen[k] for k in sorted(seen)]


def _anchor(case_id: str) -> str:
    return "case-" + case_id.replace(".", "-")


# -- Markdown and HTML: templates of harness/results ----------------------------------

def markdown(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> str:
    return render("docs.md.j2", anchor=_anchor, **model(cov, outcomes, kd))


def to_html(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> str:
    """One self-contained page; every value is escaped by the template."""
    return render("docs.html.j2", anchor=_anchor, marks=MARKS, **model(cov, outcomes, kd))
