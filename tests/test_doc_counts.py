"""Counts the documentation quotes from a figure are the figure's: where a page says what a
command printed (mutate's verdicts, docs' sentence figure), the row of docs/figures.md that
``bench --figures`` wrote for that command prints the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import figures

ROOT = Path(__file__).resolve().parent.parent

# (page, what the page says, the figure's key, what its printed lines must say)
CITED = [
    ("docs/strength.md", "Of its 812 mutants, 700 are killed (9 of them only\nby the fuzz budget), "
     "13 do not compile and 15 time out", "mutate-native",
     ["all 812 mutants", "700 killed", "9 killed by fuzz", "13 did-not-compile",
      "15 timed-out"]),
    ("docs/mutation-rust.md", "All 79 mutants of 7.2's `buddy.rs`", "mutate-rust",
     ["all 79 mutants"]),
    ("docs/mutation-rust.md", "68 killed, 9 did not compile, 2 equivalent, 0 timed out, 0 open",
     "mutate-rust", ["68 killed", "9 did-not-compile", "2 equivalent", "0 timed-out",
                     "0 open"]),
    ("README.md", "437 exercised, 164 waived, 0 missing of 601", "pairs",
     ["437 exercised, 164 waived, 0 missing of 601"]),
    ("README.md", "held or contradicted 73/73, 68 waived", "docs",
     ["held or contradicted 73/73 (68 sentences waived"]),
    ("README.md", "lines 99.4%, branches 95.6%", "cover", ["99.4%", "95.6%"]),
    ("README.md", "812 mutants, 700 killed, 0 survived: score 97.4%", "mutate-native",
     ["all 812 mutants", "700 killed, 0 survived", "score 97.4%"]),
    ("README.md", "79 mutants, 68 killed, 0 survived: score 100.0%", "mutate-rust",
     ["all 79 mutants", "68 killed, 0 survived", "score 100.0%"]),
    ("README.md", "verdict in a median of 1.45 s", "edit-native", ["median 1.45 s"]),
    ("README.md", "slips of `harness/slips.py`, in a median of 2.10 s", "edit-native",
     ["each make one slip (harness/slips.py): median 2.10 s"]),
    ("docs/corpus-strength.md", "normative sentences held or contradicted 73/73 (68 sentences "
     "waived as not normative)", "docs", ["normative sentences held or contradicted 73/73 "
                                          "(68 sentences waived as not normative)"]),
]


@pytest.mark.treeless
@pytest.mark.parametrize(("page", "says", "key", "printed"), CITED,
                         ids=[f"{c[0]}:{c[2]}:{i}" for i, c in enumerate(CITED)])
def test_a_count_a_page_quotes_is_what_its_figure_printed(page, says, key, printed):
    text = (ROOT / page).read_text(encoding="utf-8")
    assert says in text, f"{page} no longer says {says!r}: update CITED in this test"
    row = figures.rows_in((ROOT / "docs" / "figures.md").read_text(encoding="utf-8"))[key]
    missing = [p for p in printed if p not in row]
    assert missing == [], (f"{page} quotes {missing} from the figure `{key}`, whose row in "
                           "docs/figures.md says otherwise: fix the page (or record the row "
                           "again with `buddy-harness bench --figures docs/figures.md`)")

