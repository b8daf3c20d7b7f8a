"""Documentation from kernel trees: extraction, the quote check, coverage, waivers, drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.docs import coverage, drift, kdoc_tool, kerneldoc, quotes, rustdoc, tree, waivers
from harness.docs.text import normalize, sentences
from harness.spec.loader import load_paths
from harness.trees import kernels
from tests.doc_tree import HEADER, RUST, SOURCE, make_cache, make_tree
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent


def case_yaml(cid: str, ref: str, quote: str | None, extra: str = "") -> str:
    q = f", quote: {quote!r}" if quote is not None else ""
    return (f"id: {cid}\ntitle: t\nsource: {{kind: kernel-doc, ref: {ref!r}{q}}}\n"
            "layer: core\nbuddy: {size: 1M, chunk_size: 4K}\n"
            f"steps:\n  - alloc: {{as: a, size: 4K}}\n{extra}")


def harness(*args: str, cache: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BUDDY_HARNESS_KERNEL_SRC"}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, timeout=300,
                          capture_output=True, text=True,
                          env=dict(env, XDG_CACHE_HOME=str(cache), PYTHONPATH=str(ROOT)))


# -- extraction -------------------------------------------------------------------

@pytest.mark.treeless
def test_kernel_doc_items_parts_and_lines():
    items = {i.id: i for i in kerneldoc.extract("h", HEADER) + kerneldoc.extract("c", SOURCE)}
    assert list(items) == ["GPU_BUDDY_TOPDOWN_ALLOCATION", "struct gpu_buddy",
                           "gpu_buddy_init", "gpu_buddy_print"]
    init = items["gpu_buddy_init"]
    assert (init.kind, init.line, init.end_line) == ("function", 4, 14)
    parts = {p.name: p for p in init.parts}
    assert list(parts) == ["summary", "@mm", "@size", "description", "return"]
    assert [(s.text, s.line) for s in parts["description"].sentences] == [
        ("Splits the space into roots.", 10), ("Each root is a power of two.", 10)]
    assert [(s.text, s.line) for s in parts["return"].sentences] == [
        ("0 on success, error code on failure.", 13)]
    gb = {p.name: p for p in items["struct gpu_buddy"].parts}
    # A member's description continues on the next line.
    assert gb["@size"].text == "Bytes managed, a multiple of @chunk_size."
    assert items["struct gpu_buddy"].kind == "struct"
    assert items["GPU_BUDDY_TOPDOWN_ALLOCATION"].kind == "macro"


@pytest.mark.treeless
def test_rustdoc_public_items_fields_variants_and_examples():
    items = {i.id: i for i in rustdoc.extract("r.rs", RUST)}
    assert list(items) == ["rust:module", "rust:GpuBuddy", "rust:GpuBuddy::size",
                           "rust:GpuBuddy::avail", "rust:Mode", "rust:Mode::TopDown"]
    example = next(p for p in items["rust:module"].parts if p.name == "example 1")
    assert [(s.text, s.line) for s in example.sentences] == [("Make one.", 9),
                                                            ("It is empty.", 9)]
    assert items["rust:GpuBuddy::avail"].line == 22


@pytest.mark.treeless
def test_normalize_ignores_comment_markers_and_whitespace():
    assert normalize(" * Blocks come from\n *   the top.\n */") == "Blocks come from the top."
    assert normalize("//! // Allocate 16MB.") == "Allocate 16MB."
    assert [s.text for s in sentences([(1, "One. Two, e.g. three."), (2, ""), (3, "Four")])] \
        == ["One.", "Two, e.g. three.", "Four"]


# -- the quote check ----------------------------------------------------------------

@pytest.mark.treeless
def test_quote_check_finds_the_quote_across_lines_and_markers(tmp_path):
    docs = tree.load(str(make_tree(tmp_path / "t")))
    write_spec(tmp_path / "s", "a.yaml", case_yaml(
        "k.ok", "include/linux/gpu_buddy.h, GPU_BUDDY_TOPDOWN_ALLOCATION",
        "Handy for keeping low   memory free."))
    write_spec(tmp_path / "s", "b.yaml", case_yaml(
        "k.code", "drivers/gpu/buddy.c, gpu_buddy_init", "Round the size down to the chunk"))
    cases = load_paths([tmp_path / "s"]).cases
    assert quotes.check(cases, docs) == []


@pytest.mark.treeless
def test_wrong_quote_is_one_line_with_the_closest_text(tmp_path):
    docs = tree.load(str(make_tree(tmp_path / "t")))
    write_spec(tmp_path / "s", "a.yaml", case_yaml(
        "k.bad", "include/linux/gpu_buddy.h, GPU_BUDDY_TOPDOWN_ALLOCATION",
        "Blocks come from the bottom of the space first."))
    (err,) = quotes.check(load_paths([tmp_path / "s"]).cases, docs)
    col = (tmp_path / "s" / "a.yaml").read_text().splitlines()[2].index("'Blocks") + 1
    assert col == 99  # the quote itself
    assert str(err) == (f"{tmp_path / 's' / 'a.yaml'}:3:{col}: quote not found in "
                        "include/linux/gpu_buddy.h of 7.2.99 (closest: \"Blocks come from the "
                        "top of the space first.\")")


@pytest.mark.treeless
def test_review_mail_quotes_are_not_checked_but_a_missing_file_is(tmp_path):
    docs = tree.load(str(make_tree(tmp_path / "t")))
    write_spec(tmp_path / "s", "a.yaml", case_yaml(
        "k.review", "review of v12.1 rust/kernel/gpu/buddy.rs, GpuBuddy::avail",
        "words only the mail has"))
    write_spec(tmp_path / "s", "b.yaml", case_yaml(
        "k.nofile", "drivers/gpu/nothing.c, f", "anything"))
    (err,) = quotes.check(load_paths([tmp_path / "s"]).cases, docs)
    assert "drivers/gpu/nothing.c is not in the tree of 7.2.99" in str(err)


@pytest.mark.treeless
def test_check_and_run_fail_on_a_wrong_quote_and_skip_without_a_tree(tmp_path):
    cache = tmp_path / "cache"
    make_cache(cache)
    specs = tmp_path / "s"
    write_spec(specs, "a.yaml", case_yaml(
        "k.bad", "include/linux/gpu_buddy.h, GPU_BUDDY_TOPDOWN_ALLOCATION",
        "Blocks come from the bottom."))
    for verb in (["check", str(specs)], ["run", "--backend", "reference", "--specs", str(specs)]):
        r = harness(*verb, cache=cache)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "a.yaml:3:99: quote not found in include/linux/gpu_buddy.h of 7.2.99" in r.stderr
    r = harness("check", str(specs), cache=tmp_path / "empty")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("quote check skipped: no cached Linux 7.2 tree") == 1


@pytest.mark.treeless
def test_cites_names_an_item_or_is_an_error(tmp_path):
    cache = tmp_path / "cache"
    make_cache(cache)
    specs = tmp_path / "s"
    write_spec(specs, "a.yaml", case_yaml("k.c", "extra", None,
                                          "cites: [gpu_buddy_init, rust:GpuBuddy::avial]\n"))
    r = harness("check", str(specs), cache=cache)
    assert r.returncode == 2
    assert ("a.yaml:8:25: cites 'rust:GpuBuddy::avial', which 7.2.99 does not document "
            "(did you mean 'rust:GpuBuddy::avail'?)") in r.stderr


# -- coverage and waivers -------------------------------------------------------------

def _coverage(tmp_path, specs_text: dict[str, str], waived: dict[str, str] | None = None):
    docs = tree.load(str(make_tree(tmp_path / "t")))
    for name, text in specs_text.items():
        write_spec(tmp_path / "s", name, text)
    return coverage.build(load_paths([tmp_path / "s"]).cases, docs, waived or {})


@pytest.mark.treeless
def test_an_item_is_cited_by_quote_by_ref_or_by_cites(tmp_path):
    cov = _coverage(tmp_path, {
        "a.yaml": case_yaml("k.quote", "drivers/gpu/buddy.c, gpu_buddy_init",
                            "0 on success, error code on failure."),
        "b.yaml": case_yaml("k.ref", "include/linux/gpu_buddy.h, struct gpu_buddy", None),
        "c.yaml": case_yaml("k.cites", "extra", None, "cites: [rust:Mode::TopDown]\n"),
    })
    how = {i: [(c.case.id, c.how) for c in cits] for i, cits in cov.cited.items() if cits}
    assert how == {"gpu_buddy_init": [("k.quote", "quote")],
                   "struct gpu_buddy": [("k.ref", "ref")],
                   "rust:Mode::TopDown": [("k.cites", "cites")]}
    (cit,) = cov.cited["gpu_buddy_init"]
    assert [s.line for s in cit.sentences] == [13]
    assert cov.figure() == (3, 10)


@pytest.mark.treeless
def test_waivers_leave_the_count_and_are_kept_true(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "doc-waivers.yaml").write_text(
        "gpu_buddy_print: prints only\ngpu_buddy_init: stale\ngone_item: removed\n")
    w = waivers.load([tmp_path / "w"])
    cov = _coverage(tmp_path, {"a.yaml": case_yaml(
        "k.q", "drivers/gpu/buddy.c, gpu_buddy_init", None)}, w.reasons)
    assert cov.figure() == (1, 9)
    assert [line.split(": ", 1)[1] for line in w.stale(cov)] == [
        "waiver for 'gpu_buddy_init', which k.q now cite (remove the waiver)",
        "waiver for 'gone_item', which 7.2.99 does not document (remove the waiver)"]


@pytest.mark.treeless
def test_docs_verb_fails_on_uncovered_items_and_stale_waivers(tmp_path):
    cache = tmp_path / "cache"
    make_cache(cache, rust=None, header="", source=SOURCE)
    specs = tmp_path / "s"
    write_spec(specs, "a.yaml", case_yaml("k.q", "drivers/gpu/buddy.c, gpu_buddy_init",
                                          "Each root is a power of two."))
    r = harness("docs", "--no-run", "--specs", str(specs), cache=cache)
    assert r.returncode == 1
    assert "drivers/gpu/buddy.c:21: 'gpu_buddy_print' is documented but no case cites it" \
        in r.stderr
    assert "documented items covered 1/2 (0 waived, 2 documented) in Linux 7.2.99" in r.stdout
    (specs / "doc-waivers.yaml").write_text("gpu_buddy_print: prints to the log\n")
    r = harness("docs", "--no-run", "--specs", str(specs), "--markdown",
                str(tmp_path / "d.md"), cache=cache)
    assert r.returncode == 0, r.stderr
    assert "documented items covered 1/1 (1 waived, 2 documented)" in r.stdout
    md = (tmp_path / "d.md").read_text()
    assert "- cited (description, line 10): Each root is a power of two. ([k.q]" in md
    assert "- _not covered_ (description, line 10): Splits the space into roots." in md


# -- drift ---------------------------------------------------------------------------

@pytest.mark.treeless
def test_drift_lists_added_removed_changed_with_their_cases(tmp_path):
    moved = HEADER.replace("Handy for keeping\n * low memory free.",
                           "Handy for\n * keeping low memory free.")
    assert moved != HEADER
    old = tree.load(str(make_tree(tmp_path / "a", package="7.1.5-1", rust=None, header=moved)))
    new_source = SOURCE.replace("Each root is a power of two.", "Each root is 2^n bytes.")
    new = tree.load(str(make_tree(tmp_path / "b", source=new_source)))
    write_spec(tmp_path / "s", "a.yaml", case_yaml(
        "k.q", "drivers/gpu/buddy.c, gpu_buddy_init", "Each root is a power of two."))
    d = drift.compare(old, new, load_paths([tmp_path / "s"]).cases)
    kinds = {c.item: (c.kind, c.parts, c.cases) for c in d.changes}
    assert kinds["gpu_buddy_init"] == ("changed", ["description"], ["k.q"])
    assert kinds["rust:GpuBuddy"] == ("added", [], [])
    assert "GPU_BUDDY_TOPDOWN_ALLOCATION" not in kinds  # only line breaks moved
    assert d.stale_quotes == {"a (7.1.5)": [], "b (7.2.99)": ["k.q"]}  # trees given by path


# -- the real trees, when cached ------------------------------------------------------

CACHED = [c.version for c in kernels.cached() if kernels.locate(c.version)]


@pytest.mark.parametrize("version", CACHED or [pytest.param("none", marks=pytest.mark.skip(
    reason="no kernel tree cached (buddy-harness kernel fetch 7.2)"))])
def test_the_trees_own_kernel_doc_finds_the_same_items(version):
    docs = tree.load(version)
    files = sorted({i.file for i in docs.items if not i.id.startswith("rust:")})
    kd = kdoc_tool.run(docs.root, files)
    if kd is None:
        pytest.skip(f"{version}: the tree has no kernel-doc parser")
    mine: dict[str, set[str]] = {}
    for i in docs.items:
        if not i.id.startswith("rust:"):
            mine.setdefault(i.file, set()).add(i.name)
    assert {f: n for f, n in kd.names.items() if n} == mine


@pytest.mark.skipif(kernels.locate(tree.REFERENCE) is None,
                    reason="Linux 7.2 is not cached (buddy-harness kernel fetch 7.2)")
def test_linux_7_2_is_documented_as_the_corpus_says():
    docs = tree.load(tree.REFERENCE)
    per_file: dict[str, int] = {}
    for i in docs.items:
        if not i.id.startswith("rust:"):
            per_file[i.file] = per_file.get(i.file, 0) + 1
    assert per_file == {"include/linux/gpu_buddy.h": 10, "drivers/gpu/buddy.c": 10}
    loaded = load_paths([ROOT / "specs"])
    assert quotes.check(loaded.cases, docs) == []
    w = waivers.load([ROOT / "specs"])
    cov = coverage.build(loaded.cases, docs, w.reasons)
    assert cov.uncovered() == [] and w.stale(cov) == []


@pytest.mark.skipif(kernels.locate("6.12") is None or kernels.locate("7.2") is None,
                    reason="Linux 6.12 and 7.2 are not both cached (buddy-harness kernel fetch)")
def test_run_and_diff_mark_a_quote_the_version_lacks(tmp_path):
    cache = Path(kernels.cache_root()).parent
    r = harness("run", "--backend", "native@6.12", "--backend", "native@7.2", "-k",
                "topdown-fills-downward", cache=cache)
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("kernel-doc.topdown")]
    assert rows and all(("native@6.12" in line) == ("[quote absent from 6.12." in line)
                        for line in rows)
    assert "native@6.12: 1 case(s) quote documentation that 6.12." in r.stdout
    out = tmp_path / "m.json"
    r = harness("diff", "--backend", "native@7.2", "--backend", "native@6.12", "-k",
                "topdown-fills-downward", "--json", str(out), cache=cache)
    assert r.returncode == 0, r.stderr
    assert "pass*" in r.stdout
    cells = [row["cells"] for row in json.loads(out.read_text())["rows"]]
    assert all(c["native@6.12"]["doc"].startswith("quote absent from 6.12.")
               and "doc" not in c["native@7.2"] for c in cells)


@pytest.mark.treeless
def test_the_kernels_code_decides_held_or_contradicted():
    from collections import Counter

    from harness.docs.outcomes import CaseOutcome

    both = CaseOutcome({"reference": Counter({"xfail": 1}), "native@7.2": Counter({"pass": 1})},
                       from_tree={"native@7.2"})
    assert both.verdict() == "held"  # a model that is wrong is not a finding about the doc
    c_fails = CaseOutcome({"reference": Counter({"pass": 2}),
                           "native@7.2": Counter({"pass": 1, "xfail": 1})},
                          from_tree={"native@7.2"})
    assert c_fails.verdict() == "contradicted"
    assert c_fails.summary("native@7.2") == "1 pass, 1 xfail"
    only_model = CaseOutcome({"reference": Counter({"xfail": 1}),
                              "native@6.1": Counter({"skip": 1})}, from_tree={"native@6.1"})
    assert only_model.verdict() == "contradicted"
    assert CaseOutcome({"native@6.1": Counter({"skip": 2})}).verdict() == "untested"


@pytest.mark.treeless
def test_what_is_built_from_a_tree_decides_whatever_its_name():
    """Whether a backend is the kernel's code is the backend's to say, not its name's: a model
    that is not named ``reference`` does not decide over the tree's C."""
    from collections import Counter

    from harness.docs.outcomes import CaseOutcome

    model_fails = CaseOutcome({"mini": Counter({"xfail": 1}), "mini@7.2": Counter({"pass": 1})},
                              from_tree={"mini@7.2"})
    assert model_fails.verdict() == "held"
    tree_fails = CaseOutcome({"reference": Counter({"pass": 1}),
                              "mini@7.2": Counter({"xfail": 1})}, from_tree={"mini@7.2"})
    assert tree_fails.verdict() == "contradicted"


@pytest.mark.treeless
def test_a_quote_from_another_items_comment_names_the_wrong_symbol(tmp_path):
    from harness.docs.speccheck import misattributed

    docs = tree.load(str(make_tree(tmp_path / "t")))
    write_spec(tmp_path / "s", "a.yaml", case_yaml(
        "k.wrong", "drivers/gpu/buddy.c, gpu_buddy_print", "Each root is a power of two."))
    write_spec(tmp_path / "s", "b.yaml", case_yaml(  # code after the named item: fine
        "k.code", "drivers/gpu/buddy.c, gpu_buddy_init", "Round the size down to the chunk"))
    (err,) = misattributed(load_paths([tmp_path / "s"]).cases, docs)
    assert str(err).endswith(
        ":3:80: quote is from the documentation of gpu_buddy_init, not of gpu_buddy_print "
        "(drivers/gpu/buddy.c of 7.2.99) (name gpu_buddy_init in source.ref)")
