"""Coverage reports: the terminal listing, Markdown, and one self-contained HTML page.

Every documented sentence is marked by the cases whose quote touches it:
*held* (they pass on the C), *contradicted* (a case fails on the C, listed in
the expectation files: a finding, shown with its evidence), *untested* (the
citing cases were skipped), or *not covered*.
"""

from __future__ import annotations

import html
from collections import Counter

from harness.docs.coverage import Citation, Coverage
from harness.docs.kdoc_tool import KdocRun
from harness.docs.model import DocItem, Sentence
from harness.docs.outcomes import CaseOutcome

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


# -- Markdown -------------------------------------------------------------------

def markdown(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> str:
    d = cov.docs
    icon = {"held": "held", "contradicted": "**CONTRADICTED**", "untested": "untested",
            "cited": "cited", "not covered": "_not covered_"}
    out = [f"# Documentation of Linux {d.version}", "", _figure_line(cov) + ".", "",
           _kdoc_line(cov, kd) + ".", ""]
    if outcomes:
        c = _counts(cov, outcomes)
        out += ["Sentences: " + ", ".join(f"{c[m]} {m}" for m in MARKS if c[m]) + ".", "",
                _normative_line(cov, outcomes) + ".", ""]
    for rel in dict.fromkeys(i.file for i in d.items):
        out += [f"## `{rel}`", ""]
        for item in d.in_file(rel):
            state = _item_state(cov, item)
            out += [f"### `{item.id}` ({rel}:{item.line}) {state}", ""]
            if state == "waived":
                out += [f"Waived: {cov.waived[item.id]}", ""]
            marks = _by_sentence(cov, item)
            for part, s in item.sentences():
                cits = marks.get(s, [])
                st = sentence_status(cits, outcomes)
                cases = ", ".join(f"[{c.case.id}](#{_anchor(c.case.id)})" for c in cits)
                out.append(f"- {icon[st]} ({part.name}, line {s.line}): {s.text}"
                           + (f" ({cases})" if cases else ""))
            others = [c for c in cov.cited[item.id] if not c.sentences]
            if others:
                out.append("- cited as a whole by " + ", ".join(
                    f"[{c.case.id}](#{_anchor(c.case.id)}) ({c.how})" for c in others))
            out.append("")
    out += _cases_md(cov, outcomes)
    return "\n".join(out) + "\n"


def _cases_md(cov: Coverage, outcomes: dict[str, CaseOutcome]) -> list[str]:
    cases = _citing_cases(cov)
    if not cases:
        return []
    backends = _backends(outcomes)
    out = ["## Cases", "", "| case | spec | " + " | ".join(backends) + " |",
           "|---|---|" + "---|" * len(backends)]
    for case in cases:
        o = outcomes.get(case.id)
        cells = " | ".join(o.summary(b) if o else "-" for b in backends)
        out.append(f'| <a id="{_anchor(case.id)}"></a>`{case.id}` | '
                   f"{case.file}:{case.pos.line} | {cells} |")
    out.append("")
    for case in cases:
        o = outcomes.get(case.id)
        if o and o.verdict() == "contradicted":
            out.append(f"- `{case.id}`: " + "; ".join(
                f"{b}: {r[0]}" for b, r in _evidence(o) if r) + f" (see {FINDINGS})")
    return out + [""]


def _evidence(o: CaseOutcome) -> list[tuple[str, list[str]]]:
    """Each backend's failure texts, the kernel's own code before the reference model."""
    return sorted(o.reasons.items(), key=lambda kv: kv[0] == "reference")


def _citing_cases(cov: Coverage) -> list:
    seen: dict[str, object] = {}
    for cits in cov.cited.values():
        for c in cits:
            seen.setdefault(c.case.id, c.case)
    return [seen[k] for k in sorted(seen)]


def _anchor(case_id: str) -> str:
    return "case-" + case_id.replace(".", "-")


# -- HTML -----------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
.item{margin:1em 0;padding:.4em .8em;border-left:4px solid #bbb;background:#fafafa}
.item.covered{border-color:#2a7} .item.uncovered{border-color:#c33}
.item.waived{border-color:#999}
.item h3{font:600 13px ui-monospace,monospace;margin:.2em 0}
.part{font-size:12px;color:#666;margin-right:.4em}
.s,.key{padding:1px 2px;border-radius:3px}
.held{background:#d4f4dc} .contradicted{background:#fbd0d0;font-weight:600}
.untested{background:#fff1c2} .cited{background:#e3ecfb}
.not-covered{background:none;color:#777}
.legend span{margin-right:1em} .cases a{margin-left:.3em;font-size:11px}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:2px 6px}
.evidence{color:#900;font-size:12px}
"""
_JS = """
document.addEventListener('DOMContentLoaded', function () {
  for (const k of ['held', 'contradicted', 'untested', 'cited', 'not-covered']) {
    const el = document.getElementById('n-' + k);
    if (el) el.textContent = document.querySelectorAll('.s.' + k).length;
  }
});
"""


def to_html(cov: Coverage, outcomes: dict[str, CaseOutcome], kd: KdocRun | None) -> str:
    d = cov.docs
    e = html.escape
    n, m = cov.figure()
    body = [f"<h1>Documentation of Linux {e(d.version)}</h1>",
            f'<p id="figure" data-covered="{n}" data-counted="{m}">{e(_figure_line(cov))}</p>',
            f"<p>{e(_kdoc_line(cov, kd))}</p>",
            '<p class="legend">' + "".join(
                f'<span class="key {k.replace(" ", "-")}">{k}: '
                f'<b id="n-{k.replace(" ", "-")}">?</b></span>' for k in MARKS) + "</p>"]
    for rel in dict.fromkeys(i.file for i in d.items):
        body.append(f"<h2>{e(rel)}</h2>")
        for item in d.in_file(rel):
            body.append(_item_html(cov, item, outcomes))
    body.append(_cases_html(cov, outcomes))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Documentation of Linux {e(d.version)}</title><style>{_CSS}</style>"
            f"<script>{_JS}</script></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def _item_html(cov: Coverage, item: DocItem, outcomes: dict[str, CaseOutcome]) -> str:
    e = html.escape
    state = _item_state(cov, item)
    marks = _by_sentence(cov, item)
    rows = [f'<div class="item {state}" id="item-{e(item.id)}" data-item="{e(item.id)}" '
            f'data-state="{state}"><h3>{e(item.id)} <small>{e(item.file)}:{item.line} '
            f"{state}</small></h3>"]
    if state == "waived":
        rows.append(f"<p><i>waived: {e(cov.waived[item.id])}</i></p>")
    for part in item.parts:
        if not part.sentences:
            continue
        spans = []
        for s in part.sentences:
            cits = marks.get(s, [])
            st = sentence_status(cits, outcomes)
            links = "".join(f'<a href="#{_anchor(c.case.id)}">{e(c.case.id)}</a>'
                            for c in cits)
            spans.append(f'<span class="s {st.replace(" ", "-")}" data-status="{st}" '
                         f'data-line="{s.line}" title="line {s.line}">{e(s.text)}</span>'
                         + (f'<span class="cases">{links}</span>' if links else ""))
        rows.append(f'<p><span class="part">{e(part.name)}</span>{" ".join(spans)}</p>')
    whole = [c for c in cov.cited[item.id] if not c.sentences]
    if whole:
        rows.append("<p class=\"cases\">cited as a whole by" + "".join(
            f'<a href="#{_anchor(c.case.id)}">{e(c.case.id)}</a>' for c in whole) + "</p>")
    rows.append("</div>")
    return "\n".join(rows)


def _cases_html(cov: Coverage, outcomes: dict[str, CaseOutcome]) -> str:
    e = html.escape
    backends = _backends(outcomes)
    rows = ["<h2>Cases</h2><table><tr><th>case</th><th>spec</th>"
            + "".join(f"<th>{e(b)}</th>" for b in backends) + "<th>evidence</th></tr>"]
    for case in _citing_cases(cov):
        o = outcomes.get(case.id)
        evidence = ""
        if o and o.verdict() == "contradicted":
            evidence = "<br>".join(f"{e(b)}: {e(r[0])}" for b, r in _evidence(o) if r)
            evidence = f'<span class="evidence">{evidence}</span> (see {FINDINGS})'
        cells = "".join(f"<td>{e(o.summary(b)) if o else '-'}</td>" for b in backends)
        rows.append(f'<tr id="{_anchor(case.id)}" data-case="{e(case.id)}"><td>{e(case.id)}'
                    f"<br><small>{e(case.title)}</small></td><td>{e(case.file)}:"
                    f"{case.pos.line}</td>{cells}<td>{evidence}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)
