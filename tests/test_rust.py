"""The Rust backend: the tree's real buddy.rs compiled in user space and driven in a worker.

Runs where a cached gpu_buddy tree with the binding (7.2) exists and rustc and
bindgen are on PATH (`tox -e rust` has all three); skipped with the reason
otherwise. Scratch copies of the tree with one planted change show that each
kind of failure is reported as it should be.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from harness.backends.base import BackendUnavailable
from harness.backends.rust.build import BINDING
from harness.trees import kernels

TREE = kernels.locate("7.2")
SKIP = ("no cached 7.2 tree (buddy-harness kernel fetch 7.2)" if TREE is None
        else "rustc not on PATH" if shutil.which("rustc") is None
        else "bindgen not on PATH (apt-get install bindgen libclang1)"
        if shutil.which("bindgen") is None else None)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

K, M, G = 1 << 10, 1 << 20, 1 << 30
ROOT = Path(__file__).resolve().parents[1]


def _open(name: str):
    from harness.backends.rust import open_backend

    return open_backend(name, log=lambda _m: None)


def _scratch(tmp_path: Path, edit) -> Path:
    """A copy of the 7.2 tree whose buddy.rs went through ``edit(text) -> text``."""
    assert TREE is not None
    dest = tmp_path / "linux"
    shutil.copytree(TREE, dest, symlinks=True)
    p = dest / BINDING
    new = edit(p.read_text())
    assert new != p.read_text(), "the planted change did not apply"
    p.write_text(new)
    return dest


def _case(tmp_path: Path, text: str):
    from tests.helpers import load_one

    return load_one(tmp_path, text)


SIMPLE_16M = """
id: t.simple
title: t
source: {kind: extra, ref: t}
buddy: {base_offset: 8G, size: 1G, chunk_size: 4K}
steps:
  - alloc: {as: a, mode: simple, size: 16M, min_block_size: 16M}
    expect: {blocks: [{offset: 8G + 1G - 16M, order: 12, size: 16M}], avail_delta: -16M}
  - alloc: {mode: range, start: 0, end: 0, size: 16M}
    expect: {error: EINVAL}
  - free: a
    expect: {avail: 1G}
"""


def test_binding_case_runs_on_the_real_binding(tmp_path):
    from harness.engine import run_case

    b = _open("rust@7.2")
    try:
        case = _case(tmp_path, SIMPLE_16M)
        out = run_case(case, case.combinations()[0], b)
        assert out.status == "pass", out.message
        core = _case(tmp_path / "c", SIMPLE_16M.replace("id: t.simple", "id: t.core\nlayer: core")
                     .replace("mode: simple, ", "").replace("mode: range, ", "flags: [range], ")
                     .replace("base_offset: 8G", "base_offset: 0")
                     .replace("offset: 8G + 1G - 16M", "offset: 1G - 16M"))
        skipped = run_case(core, core.combinations()[0], b)
        assert skipped.status == "skip" and "native@7.2" in skipped.message
    finally:
        b.close()


def _doctests(name: str) -> dict:
    b = _open(name)
    try:
        return {o.case_id: o for s in b.suites() if s.kind == "rustdoc" for o in s.outcomes()}
    finally:
        b.close()


def test_the_four_module_examples_run_and_pass():
    outs = list(_doctests("rust@7.2").values())
    assert [o.case_id for o in outs] == [f"doctest.module-{i}" for i in (1, 2, 3, 4)]
    assert all(o.status == "pass" for o in outs), [(o.case_id, o.message) for o in outs]


def test_a_wrong_assertion_in_an_example_fails_with_its_text(tmp_path):
    tree = _scratch(tmp_path, lambda t: t.replace(
        "//! assert_eq!(block.order(), 12); // 2^12 pages = 16MB",
        "//! assert_eq!(block.order(), 13); // 2^12 pages = 16MB", 1))
    outs = _doctests(f"rust@{tree}")
    bad = outs["doctest.module-1"]
    assert bad.status == "fail"
    assert re.search(r"panicked at rust/kernel/gpu/buddy\.rs:55", bad.message), bad.message
    assert "left: 12" in bad.message and "right: 13" in bad.message
    assert all(outs[f"doctest.module-{i}"].status == "pass" for i in (2, 3, 4)), outs


def test_an_example_that_does_not_compile_names_every_error_at_its_line(tmp_path):
    tree = _scratch(tmp_path, lambda t: t.replace(
        "//! # let initial_free = buddy.avail();\n//! let topdown",
        "//! # let initial_free = buddy.avail_bytes();\n//! let topdown", 1).replace(
        "//! assert_eq!(block.order(), 12);\n//! assert_eq!(block.size(), SZ_16M as u64);\n"
        "//!\n//! // Dropping the allocation returns the range",
        "//! assert_eq!(block.orderr(), 12);\n//! assert_eq!(block.size(), SZ_16M as u64);\n"
        "//!\n//! // Dropping the allocation returns the range", 1))
    outs = _doctests(f"rust@{tree}")
    msg = outs["doctest.module-2"].message
    assert outs["doctest.module-2"].status == "fail"
    assert msg.startswith("compile error: error[E0599]"), msg
    # Both, in rustc's order, each at its line of buddy.rs; rustc's summary is not one.
    assert re.findall(r"error\[(E\d+)\][^;]*? at rust/kernel/gpu/buddy\.rs:(\d+):\d+", msg) == [
        ("E0599", "79"), ("E0599", "93")], msg
    assert "aborting" not in msg


def test_a_planted_binding_bug_is_caught_by_the_corpus(tmp_path):
    """Without the empty-range check, the review's Range{0, 0} cases fail on the real code."""
    from harness.expectations import Expectations
    from harness.runner import run_one
    from harness.spec.loader import load_paths

    tree = _scratch(tmp_path, lambda t: t.replace("if range.is_empty() {", "if false {", 1))
    b = _open(f"rust@{tree}")
    try:
        loaded = load_paths([ROOT / "specs/review"])
        fails = {c.id for c in loaded.cases for ps in c.combinations()
                 if run_one(c, ps, b, Expectations("none")).status == "fail"}
    finally:
        b.close()
    assert any("range" in f for f in fails), fails


def test_a_panic_in_the_binding_is_that_case_s_crash(tmp_path):
    from harness.engine import run_case

    tree = _scratch(tmp_path, lambda t: t.replace(
        "    pub fn avail(&self) -> u64 {\n",
        '    pub fn avail(&self) -> u64 {\n        panic!("planted");\n', 1))
    b = _open(f"rust@{tree}")
    try:
        case = _case(tmp_path, SIMPLE_16M)
        out = run_case(case, case.combinations()[0], b)
        assert out.status == "crash" and out.trace.crash_kind == "panic", out.message
        assert out.message.startswith("panicked at rust/kernel/gpu/buddy.rs:"), out.message
        assert "planted" in out.message
        again = run_case(case, case.combinations()[0], b)  # a fresh worker, same verdict
        assert again.status == "crash"
    finally:
        b.close()


def test_a_compile_error_in_the_binding_is_one_line(tmp_path):
    tree = _scratch(tmp_path, lambda t: t.replace(
        "pub fn avail(&self) -> u64 {", "pub fn avail(&self) -> u64 { undefined_fn();", 1))
    with pytest.raises(BackendUnavailable) as e:
        _open(f"rust@{tree}")
    msg = str(e.value)
    assert "\n" not in msg and "error[E0425]" in msg and "gpu/buddy.rs" in msg, msg


def test_a_tree_without_the_binding_says_what_to_do(tmp_path):
    tree = _scratch(tmp_path, lambda t: t + "\n")
    (tree / BINDING).unlink()
    with pytest.raises(BackendUnavailable, match="no rust/kernel/gpu/buddy.rs in this tree"):
        _open(f"rust@{tree}")


def test_missing_rustc_says_what_to_do(monkeypatch):
    monkeypatch.setenv("RUSTC", "no-such-rustc")
    with pytest.raises(BackendUnavailable, match="needs no-such-rustc: install a Rust toolchain"):
        _open("rust@7.2")


def test_missing_bindgen_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("BINDGEN", str(tmp_path / "no-bindgen"))
    tree = _scratch(tmp_path, lambda t: t + "\n// a change, so nothing comes from the cache\n")
    with pytest.raises(BackendUnavailable, match="needs .*no-bindgen.*apt-get install bindgen"):
        _open(f"rust@{tree}")


def test_threads_through_the_binding_s_own_mutex():
    """8 threads x 10,000 random operations on one GpuBuddy inside the worker: its Mutex
    serializes them; no two live blocks overlap, avail is restored, nothing leaks."""
    b = _open("rust@7.2")
    try:
        reply = b.stress(8, 10_000, 1, 64 * M, 4 * K)
    finally:
        b.close()
    assert reply.startswith("0 "), reply
    ops, granted, avail = (int(x) for x in reply.split()[1:])
    assert ops == 8 * 10_000 and avail == 64 * M
    assert granted > 8 * 1000, "too few allocations succeeded to exercise the lock"


def test_pytest_runs_the_doctests_and_lints_per_backend():
    """The generated module collects one item per example and per lint of each rust@ tree."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "generated/test_backend_suites.py"), "--backend",
                        "rust@7.2", "--backend", "reference"],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
    assert p.returncode == 0, p.stdout[-2000:]
    assert re.search(r"\b7 passed\b", p.stdout), p.stdout[-500:]  # 4 examples, 3 lints


def test_binding_fuzz_agrees_with_the_model_and_catches_a_planted_bug(tmp_path, capsys):
    """fuzz with rust@ on one side runs binding programs: the model binding over the reference
    agrees with the real 7.2 binding, and a binding without its empty-range check is found,
    shrunk and written as a case that passes on one side only."""
    from harness.backends.reference import ReferenceBackend
    from harness.divergence import binding_layer, fuzz
    from harness.engine import run_case
    from harness.spec.loader import load_file

    ref = ReferenceBackend()
    real = _open("rust@7.2")
    try:
        found, stats = fuzz.search(ref, real, ("reference", "rust@7.2"), seed=7, examples=300)
        assert found is None, found
        assert stats.examples == 300
    finally:
        real.close()
    tree = _scratch(tmp_path, lambda t: t.replace("if range.is_empty() {", "if false {", 1))
    bad = _open(f"rust@{tree}")
    try:
        found, _ = fuzz.search(ref, bad, ("reference", "bad"), seed=7, examples=3000)
        assert found is not None
        assert len(found.program.ops) <= 2, found.program
        path = tmp_path / "case.yaml"
        path.write_text(binding_layer.to_yaml(found, ("reference", "bad"), 7))
        (case,) = load_file(path)
        ps = case.combinations()[0]
        assert run_case(case, ps, ref).status == "pass"
        assert run_case(case, ps, bad).status == "fail"
    finally:
        bad.close()
    # The verb: the same divergence, written where --emit says and replayed on both sides.
    from harness.cli import main

    capsys.readouterr()
    assert main(["fuzz", "--backend", "reference", "--backend", f"rust@{tree}", "--examples",
                 "3000", "--seed", "7", "--jobs", "1", "--emit", str(tmp_path / "found")]) == 1
    out = capsys.readouterr().out
    assert "DIVERGENCE: operation" in out, out
    assert "reproduces (reference: pass, rust@" in out and "replay: buddy-harness run" in out


SEED = next((p / "shared/seed/review-v12.1-gpu-buddy-bindings.txt" for p in ROOT.parents
             if (p / "shared/seed/review-v12.1-gpu-buddy-bindings.txt").is_file()),
            ROOT.parent / "shared/seed/review-v12.1-gpu-buddy-bindings.txt")


@pytest.mark.skipif(not SEED.is_file(), reason=f"the v12.1 review thread is not at {SEED}")
def test_the_v12_1_posting_shows_its_review(capsys):
    """The posting applied onto 7.2 and run as rust@v12.1: the review's requirements fail
    exactly where specs/expectations/rust@v12.1.yaml says (an empty Range accepted and
    placed at offset 0, inverted ranges forwarded, example 4 not compiling), and nowhere
    else; run exits 0 only because each of those is listed."""
    import json

    from harness.cli import main

    assert main(["kernel", "patch", "v12.1", "--onto", "7.2", str(SEED)]) == 0
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"v12-{os.getpid()}.json"
    code = main(["run", "--backend", "rust@v12.1", "--specs", str(ROOT / "specs"),
                 "--json", str(out), "-q"])
    results = json.loads(out.read_text())["results"]
    out.unlink()
    printed = capsys.readouterr().out
    assert code == 0, printed[-2000:]
    # What docs/reviewing-a-patch.md says this run prints, it prints.
    summary = re.search(r"\d+ passed, \d+ failed, \d+ skipped \(\d+ xfail\)", printed)
    page = (ROOT / "docs" / "reviewing-a-patch.md").read_text()
    said = re.findall(r"run --backend rust@v12\.1 -q(?:\s+# |` \| )(\d+ passed[^|\n]*?)\s*(?:\||$)",
                      page, re.M)
    assert summary and said and set(said) == {summary.group(0)}, (said, printed[-300:])
    xfail = {r["case"] for r in results if r["outcome"] == "xfail"}
    assert {"review.zero-sized-range-rejected", "review.inverted-range-rejected",
            "rustdoc.v12-zero-range-binding-rejected", "doctest.module-4", "lint.clippy",
            "lint.rustfmt"} <= xfail
    example4 = next(r for r in results if r["case"] == "doctest.module-4")
    # Both errors the reviewer's make rustdoc printed, not only the first.
    assert re.findall(r"error\[E0433\]: cannot find type `GpuBuddyAllocFlags`[^;]* at "
                      r"rust/kernel/gpu/buddy\.rs:(\d+)", example4["message"]) == ["186", "199"]


# Miniatures of the binding: the tree's buddy.rs with one deliberate bug each. The corpus
# (run on rust@) and the binding fuzzer (against the model over the reference) must each
# flag every one; a miniature that nothing flags names a missing case.
BINDING_MINIATURES = {
    "accepts-empty-range": ("if range.is_empty() {", "if false {"),
    "forgets-base-offset": ("self.blocks.buddy.params.base_offset + self.this.offset()",
                            "self.this.offset()"),
    "drops-modifier-flags": ("mode_flags | usize::from(modifier_flags),", "mode_flags,"),
    "topdown-as-simple": ("Self::TopDown => bindings::GPU_BUDDY_TOPDOWN_ALLOCATION,",
                          "Self::TopDown => 0,"),
    "miscounts-block-size": ("as u64) << self.this.order()", "as u64) << (self.this.order() + 1)"),
    # Never tears the C allocator down: caught by the count of block structures at drop.
    "never-finalises": ("unsafe { bindings::gpu_buddy_fini(guard.as_raw()) };",
                        "let _ = &guard;"),
}


@pytest.mark.parametrize("name", sorted(BINDING_MINIATURES))
def test_every_binding_miniature_is_flagged_by_the_corpus_and_by_fuzz(tmp_path, name):
    from harness import expectations
    from harness.backends.reference import ReferenceBackend
    from harness.divergence import fuzz
    from harness.runner import run_one
    from harness.spec.loader import load_paths

    old, new = BINDING_MINIATURES[name]
    tree = _scratch(tmp_path, lambda t: t.replace(old, new, 1))
    bad = _open(f"rust@{tree}")
    try:
        exp = expectations.load([ROOT / "specs"], "rust@7.2")
        cases = [c for c in load_paths([ROOT / "specs"]).cases if c.layer == "binding"]
        flagged = [c.id for c in cases for ps in c.combinations()
                   if run_one(c, ps, bad, exp).status not in ("pass", "xfail", "skip")]
        assert flagged, f"no case flags the miniature {name}"
        found, _ = fuzz.search(ReferenceBackend(), bad, ("reference", name), seed=3,
                               examples=2000)
        assert found is not None, f"binding fuzz does not flag the miniature {name}"
    finally:
        bad.close()
