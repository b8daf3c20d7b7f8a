"""Counts in the documentation are what the code reports now: the corpus block of
docs/figures.md is exactly what ``check specs --summary`` prints for today's specs/."""

from __future__ import annotations

from pathlib import Path

from harness.spec import summary
from harness.spec.loader import load_paths

ROOT = Path(__file__).resolve().parent.parent


def test_the_corpus_figures_are_the_corpus():
    loaded = load_paths([ROOT / "specs"])
    assert not loaded.errors
    page = (ROOT / "docs" / "figures.md").read_text(encoding="utf-8")
    assert summary.block_in(page) == summary.markdown(loaded.cases), (
        "docs/figures.md's corpus figures are stale: run `buddy-harness check specs --summary` "
        "and put its block there")
