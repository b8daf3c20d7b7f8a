"""Renderers of the corpus matrix: terminal table, Markdown, JSON, one-file HTML."""

from __future__ import annotations

import html
import json

from harness.divergence.compare import Difference
from harness.divergence.matrix import Matrix, Row

SYMBOL = {"pass": "pass", "xfail": "xfail", "fail": "FAIL", "xpass": "XPASS", "skip": "skip",
          "crash": "CRASH", "error": "ERROR"}


def _diff_line(d: Difference) -> str:
    a, b = d.backends
    where = f"step {d.step}" + (f" (line {d.line})" if d.line else "")
    return f"{where}: {d.what}: {a}: {d.values[0]} | {b}: {d.values[1]}"


def _keys(rows: list[Row], limit: int, unexpected: bool = False) -> list[str]:
    out = [f"  {r.key}{'  UNEXPECTED' if unexpected and r.unexpected else ''}"
           for r in rows[:limit]]
    if len(rows) > limit:
        out.append(f"  ... and {len(rows) - limit} more (--markdown/--json/--html list all)")
    return out


def _sym(cell) -> str:
    """The cell's status; a * when the backend's tree lacks the quoted documentation."""
    return SYMBOL[cell.status] + ("*" if cell.doc else "")


def _summary_lines(m: Matrix, limit: int = 15) -> list[str]:
    out = [f"{len(m.rows)} rows x {len(m.backends)} backends in {m.seconds:.1f}s"]
    for b in m.backends:
        counts = m.counts(b)
        out.append(f"  {b}: " + ", ".join(f"{counts[k]} {k}" for k in SYMBOL if counts.get(k)))
    for b in m.backends:
        n = sum(1 for r in m.rows if r.cells[b].doc)
        if n:
            out.append(f"  {b}: * on {n} rows: the case's quote is absent from this tree")
    out.append(f"every backend fails ({len(m.all_fail)}): documented claims nobody meets")
    out += _keys(m.all_fail, limit)
    out.append(f"backends disagree ({len(m.disagreements)}, "
               f"{len(m.unexpected)} not explained by expectations)")
    out += _keys(m.unexpected + [r for r in m.disagreements if not r.unexpected], limit, True)
    return out


# -- terminal ---------------------------------------------------------------

def terminal(m: Matrix, *, width: int = 60) -> str:
    rows = [r for r in m.rows if r.interesting]
    keyw = min(width, max((len(r.key) for r in rows), default=4))
    colw = [max(len(b), 6) for b in m.backends]
    lines = ["  ".join([f"{'case':<{keyw}}"] + [f"{b:<{w}}" for b, w in zip(m.backends, colw)])]
    for r in rows:
        key = r.key if len(r.key) <= keyw else r.key[: keyw - 1] + "~"
        cells = [f"{_sym(r.cells[b]):<{w}}" for b, w in zip(m.backends, colw)]
        mark = "  <> " if r.disagree else ""
        lines.append("  ".join([f"{key:<{keyw}}"] + cells).rstrip() + mark)
        for d in r.differences:
            lines.append(f"    {_diff_line(d)[:400]}")
    if not rows:
        lines.append("(every row passes on every backend)")
    hidden = len(m.rows) - len(rows)
    if hidden:
        lines.append(f"({hidden} rows where every backend passes or skips alike not shown)")
    return "\n".join(lines + [""] + _summary_lines(m)) + "\n"


# -- Markdown -----------------------------------------------------------------

def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(m: Matrix) -> str:
    out = ["# Backend divergence matrix", ""]
    out.append(f"{len(m.rows)} rows (cases x params) on {', '.join(f'`{b}`' for b in m.backends)}"
               f"; {len(m.disagreements)} disagree, {len(m.unexpected)} not explained by "
               f"expectations; {len(m.all_fail)} fail everywhere.")
    out += ["", "| backend | " + " | ".join(SYMBOL) + " |",
            "|---|" + "---:|" * len(SYMBOL)]
    for b in m.backends:
        c = m.counts(b)
        out.append(f"| `{b}` | " + " | ".join(str(c.get(k, 0)) for k in SYMBOL) + " |")
    out += ["", "## Documented claims no backend meets", ""]
    out += [f"- `{r.key}`: {_md(r.title)}" for r in m.all_fail] or ["None."]
    out += ["", "## Where backends disagree", ""]
    if not m.disagreements:
        out.append("Nowhere: every trace matches step by step.")
    for r in m.disagreements:
        tag = " **(unexpected)**" if r.unexpected else ""
        out.append(f"- `{r.key}`{tag}: {_md(r.title)}  ")
        for d in r.differences:
            out.append(f"  {_md(_diff_line(d))}")
    rows = [r for r in m.rows if r.interesting]
    out += ["", "## Matrix (rows where something is not a plain pass)", ""]
    out.append("| case | params | " + " | ".join(f"`{b}`" for b in m.backends) + " |")
    out.append("|---|---|" + "---|" * len(m.backends))
    for r in rows:
        cells = [SYMBOL[r.cells[b].status] for b in m.backends]
        cells = [f"**{c}**" if c.isupper() else c for c in cells]
        cells = [c + (" (quote absent)" if r.cells[b].doc else "")
                 for c, b in zip(cells, m.backends)]
        out.append(f"| `{r.case_id}` | {_md(r.params) or '-'} | " + " | ".join(cells) + " |")
    hidden = len(m.rows) - len(rows)
    if hidden:
        out += ["", f"{hidden} rows where every backend passes or skips alike are not listed."]
    return "\n".join(out) + "\n"


# -- JSON ---------------------------------------------------------------------

def to_json(m: Matrix) -> str:
    return json.dumps(m.to_json(), indent=2) + "\n"


# -- HTML ---------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:12px 16px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 6px}
.bar{display:flex;gap:16px;align-items:center;flex-wrap:wrap}
input[type=search]{font:inherit;padding:4px 8px;width:24em}
.sum span{margin-right:12px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#f0f0f3;z-index:1;border-bottom:2px solid #ccc}
td.c{text-align:center;font-weight:600;white-space:nowrap;width:1%}
.pass{background:#dff3e3;color:#17602a}.xfail{background:#fff1cc;color:#7a5a00}
.fail,.xpass{background:#fbd5d5;color:#8a1111}.crash,.error{background:#4a0d0d;color:#fff}
.skip{background:#eee;color:#777}
tr.dis td:first-child{border-left:4px solid #c2410c}
tr.unx td:first-child{border-left:4px solid #b91c1c}
code{font:12px ui-monospace,monospace}
details{margin-top:4px}summary{cursor:pointer;color:#c2410c}
.d{font:12px ui-monospace,monospace;white-space:pre-wrap;margin:2px 0 2px 12px}
.t{color:#555;font-size:12px}
ul{margin:4px 0}
"""

_JS = """
const q=document.getElementById('q'),o=document.getElementById('only');
function f(){const t=q.value.toLowerCase();for(const r of document.querySelectorAll('tbody tr')){
const hit=r.textContent.toLowerCase().includes(t);r.hidden=!hit||(o.checked&&!r.dataset.i);}}
q.addEventListener('input',f);o.addEventListener('change',f);f();
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_row(r: Row, backends: list[str]) -> str:
    cls = "unx" if r.unexpected else "dis" if r.disagree else ""
    inter = ' data-i="1"' if r.interesting else ""
    head = (f"<td><code>{_h(r.case_id)}</code>"
            + (f" <code>[{_h(r.params)}]</code>" if r.params else "")
            + f"<div class=t>{_h(r.title)}</div>")
    if r.differences:
        head += "<details><summary>first differing step</summary>"
        for d in r.differences:
            a, b = d.backends
            where = f"step {d.step}" + (f" (line {d.line})" if d.line else "")
            head += (f"<div class=d>{_h(where)}: {_h(d.what)}\n  {_h(a)}: {_h(d.values[0])}\n"
                     f"  {_h(b)}: {_h(d.values[1])}</div>")
        head += "</details>"
    head += "</td>"
    cells = "".join(
        f"<td class='c {_h(c.status)}' title='{_h(c.doc or c.message)}'>{_h(_sym(c))}</td>"
        for c in (r.cells[b] for b in backends))
    return f"<tr class='{cls}'{inter}>{head}{cells}</tr>"


def to_html(m: Matrix) -> str:
    s = m.summary()
    counts = "".join(
        f"<span><b>{_h(b)}</b>: " + ", ".join(f"{n} {_h(k)}" for k, n in c.items()) + "</span>"
        for b, c in s["backends"].items())
    lists = ""
    for title, rows in (("Every backend fails (claims nobody meets)", m.all_fail),
                        ("Backends disagree", m.disagreements)):
        items = "".join(f"<li><code>{_h(r.key)}</code>{' (unexpected)' if r.unexpected else ''}"
                        f"</li>" for r in rows) or "<li>none</li>"
        lists += f"<details><summary>{_h(title)}: {len(rows)}</summary><ul>{items}</ul></details>"
    head = "".join(f"<th>{_h(b)}</th>" for b in m.backends)
    body = "\n".join(_html_row(r, m.backends) for r in m.rows)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Backend divergence matrix</title><style>{_CSS}</style></head>
<body><header><h1>Backend divergence matrix</h1>
<div class=bar><input id=q type=search placeholder="filter: case id, params, title, outcome">
<label><input id=only type=checkbox checked> only rows that are not a plain pass</label>
<span>{len(m.rows)} rows, {len(m.disagreements)} disagree, {len(m.unexpected)} unexpected,
{len(m.all_fail)} fail everywhere</span></div>
<div class=sum>{counts}</div>{lists}</header>
<table><thead><tr><th>case</th>{head}</tr></thead>
<tbody>
{body}
</tbody></table>
<script>{_JS}</script></body></html>
"""
