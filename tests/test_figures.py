"""The speed figures of docs/figures.md are rows ``bench --figures`` wrote, one per figure
of harness/figures.py, each showing the command that measured it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import figures
from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_every_figure_of_the_page_is_a_row_the_command_wrote():
    page = (ROOT / "docs" / "figures.md").read_text(encoding="utf-8")
    rows = figures.rows_in(page)
    assert list(rows) == [f.key for f in figures.FIGURES], (
        "docs/figures.md's figures table is not what harness/figures.py measures: run "
        "`buddy-harness bench --figures docs/figures.md` (or `--figure KEY` for new ones)")
    for f in figures.FIGURES:
        assert f"`buddy-harness {' '.join(f.argv)}`" in rows[f.key]
        assert re.search(r"\| [0-9.]+ s( \(median of \d+\))?, [0-9.]+ s \|", rows[f.key])


TOY = (figures.Figure("trees", "the fetched trees", ("kernel", "list"), r"."),
       figures.Figure("help", "the verbs", ("--help",), r"^usage", repeat=2))


def test_bench_figures_writes_the_table_and_keeps_the_rest_of_the_page(tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.setattr(figures, "FIGURES", TOY)
    monkeypatch.chdir(ROOT)
    page = tmp_path / "figures.md"
    page.write_text("# Figures\n\nHand-written prose stays.\n")
    assert main(["bench", "--figures", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Figures\n\nHand-written prose stays.\n")
    rows = figures.rows_in(text)
    assert list(rows) == ["trees", "help"]
    assert "usage: buddy-harness" in rows["help"] and "(median of 2)" in rows["help"]
    assert "figure trees: buddy-harness kernel list" in capsys.readouterr().out

    before = rows["trees"]
    page.write_text(text.replace("usage: buddy-harness", "stale"))
    assert main(["bench", "--figures", str(page), "--figure", "help"]) == 0
    again = figures.rows_in(page.read_text())
    assert again["trees"] == before and "usage: buddy-harness" in again["help"]
    assert page.read_text().count(figures.BEGIN) == 1


def test_an_unknown_figure_is_one_line_and_exit_2(tmp_path, capsys):
    page = tmp_path / "f.md"
    assert main(["bench", "--figures", str(page), "--figure", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no figure named nope" in err and "run-reference" in err
    assert not page.exists()


@pytest.mark.parametrize("text", ["a | b", "x <= 1.5 & y"])
def test_a_printed_line_cannot_break_the_table(text):
    m = figures.Measured(TOY[0], [text], [1.0], 0.5, 0, (0.1, 0.2), "now")
    row = figures.row(m)
    assert len(re.findall(r"(?<!\\)\|", row)) == 8 and "\n" not in row  # 7 cells
    assert "<=" not in row
