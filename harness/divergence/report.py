"""Renderers of the corpus matrix: terminal table, and from its results model (the JSON) the
Markdown and the one-file HTML (jinja2 templates of :mod:`harness.results`)."""

from __future__ import annotations

from harness import results
from harness.divergence.compare import Difference
from harness.divergence.matrix import Matrix, Row
from harness.results.render import render

SYMBOL = {"pass": "pass", "xfail": "xfail", "fail": "FAIL", "xpass": "XPASS", "skip": "skip",
          "crash": "CRASH", "error": "ERROR"}


def _diff_line(d: Difference) -> str:
    return _diff_text({"backends": list(d.backends)} | d.to_json())


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


# -- JSON ---------------------------------------------------------------------

def to_json(m: Matrix) -> str:
    return results.dumps("diff", m.to_json())


def _key(row: dict) -> str:
    return f"{row['case']}[{row['params']}]" if row["params"] else row["case"]


def _diff_text(d: dict) -> str:
    a, b = d["backends"]
    where = f"step {d['step']}" + (f" (line {d['line']})" if d["line"] else "")
    return f"{where}: {d['what']}: {a}: {d['values'][a]} | {b}: {d['values'][b]}"


# -- Markdown and HTML: templates of harness/results, from the JSON's model ---------------

def markdown(m: Matrix) -> str:
    return render("diff.md.j2", symbol=SYMBOL, key=_key, diff_line=_diff_text, **m.to_json())


def to_html(m: Matrix) -> str:
    """One self-contained page; every value is escaped by the template."""
    return render("diff.html.j2", symbol=SYMBOL, **m.to_json())
