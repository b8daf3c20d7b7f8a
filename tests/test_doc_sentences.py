"""Normative sentences: `ITEM | SENTENCE` waivers in doc-waivers.yaml, kept true, and the figure.

The small tree of tests/doc_tree.py runs everywhere; the corpus's own figure on 7.2 is
held where the tree is cached.
"""

from __future__ import annotations

import pytest

from harness.docs import coverage, report, tree, waivers
from harness.docs.outcomes import CaseOutcome
from harness.spec.loader import load_paths
from harness.spec.position import SpecError
from harness.trees import kernels
from tests.doc_tree import make_tree
from tests.helpers import write_spec
from tests.test_docs import ROOT, case_yaml, harness

WAIVERS = """\
gpu_buddy_print: prints only
"gpu_buddy_init | set an allocator up": the summary
"gpu_buddy_init | the allocator": a parameter's purpose
"gpu_buddy_init | bytes to   manage": waived, then quoted
"gpu_buddy_init | no such sentence": stale
"gone_item | Anything.": stale
"""


def _cov(tmp_path, quote: str):
    (tmp_path / "w").mkdir(exist_ok=True)
    (tmp_path / "w" / "doc-waivers.yaml").write_text(WAIVERS)
    w = waivers.load([tmp_path / "w"])
    docs = tree.load(str(make_tree(tmp_path / "t")))
    write_spec(tmp_path / "s", "a.yaml", case_yaml("k.q", "drivers/gpu/buddy.c, gpu_buddy_init",
                                                   quote))
    return w, coverage.build(load_paths([tmp_path / "s"]).cases, docs, w.reasons, w.sentences)


@pytest.mark.treeless
def test_sentence_waivers_leave_the_normative_count_and_are_kept_true(tmp_path):
    w, cov = _cov(tmp_path, "bytes to manage")
    # Whitespace does not count: the key is compared normalized.
    assert w.sentence_waived("gpu_buddy_init", "bytes to manage")
    assert "gpu_buddy_print" in w.reasons and "gpu_buddy_init | the allocator" not in w.reasons
    normative = [(i.id, s.text) for i, s in cov.normative()]
    assert ("gpu_buddy_init", "the allocator") not in normative
    assert ("gpu_buddy_init", "Splits the space into roots.") in normative
    assert not any(i == "gpu_buddy_print" for i, _ in normative)  # a waived item
    stale = [line.split(": ", 1)[1] for line in w.stale(cov)]
    assert "sentence waiver for 'bytes to manage' of 'gpu_buddy_init', which k.q now quote " \
           "(remove the waiver)" in stale
    assert any("'gpu_buddy_init' has no sentence 'no such sentence'" in s for s in stale)
    assert any("sentence waiver for 'gone_item', which 7.2.99 does not document" in s
               for s in stale)


@pytest.mark.treeless
def test_the_figure_counts_held_and_contradicted_normative_sentences(tmp_path):
    _, cov = _cov(tmp_path, "Each root is a power of two.")
    n, m = report.normative_figure(cov, {})
    assert (n, m) == (0, len(cov.normative()))  # nothing ran: cited, not held
    held = CaseOutcome(statuses={"native@7.2": {"pass": 1}})
    assert report.normative_figure(cov, {"k.q": held}) == (1, m)
    failed = CaseOutcome(statuses={"native@7.2": {"xfail": 1}})
    assert report.normative_figure(cov, {"k.q": failed}) == (1, m)
    text = report.terminal(cov, {"k.q": held}, None)
    assert f"normative sentences held or contradicted 1/{m} (4 sentences waived" in text


@pytest.mark.treeless
def test_a_sentence_waived_twice_is_one_error(tmp_path):
    (tmp_path / "doc-waivers.yaml").write_text(
        '"gpu_buddy_init | the allocator": a\n"gpu_buddy_init |  the  allocator": b\n')
    with pytest.raises(SpecError, match="is waived twice"):
        waivers.load([tmp_path])


@pytest.mark.skipif(kernels.locate("7.2") is None, reason="Linux 7.2 is not cached")
def test_every_normative_sentence_of_7_2_is_held_or_contradicted():
    from pathlib import Path

    cache = Path(kernels.cache_root()).parent
    r = harness("docs", cache=cache)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("normative sentences"))
    n, m = line.split()[5].split("/")
    assert n == m and int(m) > 50, line
    assert (ROOT / "specs" / "doc-waivers.yaml").is_file()
