"""Mutation testing of the Rust binding: what each Rust operator proposes on small snippets,
the accepted-survivor file of rust@7.2 kept true, and the verb end to end on a few mutants
of 7.2's buddy.rs (where the tree, rustc and bindgen are here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import results
from harness.cli import main
from harness.mutation import survivors
from harness.mutation.rust_mutants import OPERATORS, analyse, generate

ROOT = Path(__file__).resolve().parents[1]

SNIPPET = """\
// SPDX-License-Identifier: GPL-2.0
//! Docs with `a < b` and `x + 1` that are not code.
//!
//! ```
//! let c = a + b;
//! ```

use core::ops::Range;

/// The modes.
pub enum Mode {
    /// One.
    Simple,
    /// Two.
    TopDown,
}

impl Mode {
    fn as_flags(&self) -> usize {
        match self {
            Self::Simple => 0,
            Self::TopDown => bindings::GPU_BUDDY_TOPDOWN_ALLOCATION,
        }
    }
}

crate::impl_flags!(
    #[derive(Clone, Copy)]
    pub enum Flag {
        Contiguous = bindings::GPU_BUDDY_CONTIGUOUS_ALLOCATION,
        Cleared = bindings::GPU_BUDDY_CLEARED,
    }
);

struct Inner(Vec<u8>);

impl Inner {
    fn check(&self, a: u64, b: u64, r: &Range<u64>) -> Result<u64> {
        let s = "a < b";
        if r.is_empty() && a == b {
            Err::<(), Error>(EINVAL)?;
        }
        let n = self.0.len() as u64;
        let m = a.min(b).wrapping_add(n);
        if !self.ok() {
            return Err(EINVAL);
        }
        Ok(f(a, b) + (m << 2))
    }
}

#[pinned_drop]
impl PinnedDrop for Inner {
    fn drop(self: Pin<&mut Self>) {
        let guard = self.lock();
        let _probe = self.probe();
        unsafe { bindings::gpu_buddy_fini(guard.as_raw()) };
    }
}
"""


def _by_op(src: str, flags: list[str] | None = None) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in generate(src, flags):
        out.setdefault(m.operator, []).append((" ".join(m.original.split()), m.replacement))
    return out


def test_scopes_name_the_impl_and_function_and_drop_bodies_are_known():
    t = analyse(SNIPPET)
    scopes = {t.scope[i] for i in range(len(t.toks)) if t.in_fn[i]}
    assert scopes == {"Mode::as_flags", "Inner::check", "Inner::drop"}
    drops = {t.toks[i].text for i in range(len(t.toks)) if t.in_drop[i]}
    assert "gpu_buddy_fini" in drops and "check" not in drops
    # Attributes, comments, doc examples and strings are not code.
    texts = [x.text for x in t.toks]
    assert "derive" not in texts and "pinned_drop" not in texts and "c" not in texts


def test_every_operator_proposes_its_changes_and_nothing_outside_code():
    got = _by_op(SNIPPET)
    assert got["ror"] == [("&&", "||"), ("==", "!=")]
    assert got["aor"] == [("+", "-")]
    assert got["shift"] == [("<<", ">>")]
    assert ("f(a, b) + (m << 2)", "f(a, b).wrapping_add((m << 2))") in got["overflow"]
    assert ("f(a, b) + (m << 2)", "f(a, b).saturating_add((m << 2))") in got["overflow"]
    assert ("wrapping_add", "saturating_add") in got["overflow"]
    assert ("m << 2", "m.wrapping_shl(2)") in got["overflow"]
    assert got["minmax"] == [("min", "max")]
    assert got["width"] == [("as u64", "as u32 as u64")]
    assert sorted(got["const"]) == [("0", "1"), ("2", "1"), ("2", "3")]
    assert ("!", "") in got["bool"]
    assert ("r.is_empty() && a == b", "!(r.is_empty() && a == b)") in got["bool"]
    assert got["try"] == [("?", "")]
    assert got["return"] == [("return Err(EINVAL);", "")]
    assert got["arm"] == [("0", "bindings::GPU_BUDDY_TOPDOWN_ALLOCATION"),
                          ("bindings::GPU_BUDDY_TOPDOWN_ALLOCATION", "0")]
    # A `let` whose name is used further on is kept: deleting it never builds.
    assert got["drop"] == [("let _probe = self.probe();", ""),
                           ("unsafe { bindings::gpu_buddy_fini(guard.as_raw()) };", "")]
    assert ("a, b", "b, a") in got["swap"]
    # usize -> 0 and 1; () -> an empty body; Result<u64> has no plain value.
    assert [(o.split()[0], r) for o, r in got["value"]] == [("{", "{ 0 }"), ("{", "{ 1 }"),
                                                            ("{", "{}")]
    assert {m.function for m in generate(SNIPPET) if m.operator == "value"} == {
        "Mode::as_flags", "Inner::drop"}
    # The doc comment's `a < b`, the string's, the generics and `&self` are left alone.
    assert all(m.line >= 18 for m in generate(SNIPPET))
    assert set(got) <= set(OPERATORS)


def test_flag_constants_are_swapped_for_the_trees_other_flags_anywhere_in_code():
    flags = ["GPU_BUDDY_TOPDOWN_ALLOCATION", "GPU_BUDDY_CONTIGUOUS_ALLOCATION",
             "GPU_BUDDY_CLEARED"]
    got = _by_op(SNIPPET, flags)["flag"]
    # An enum's value becomes a flag the enum does not have yet (discriminants must differ).
    assert ("GPU_BUDDY_CONTIGUOUS_ALLOCATION", "GPU_BUDDY_TOPDOWN_ALLOCATION") in got
    assert ("GPU_BUDDY_CONTIGUOUS_ALLOCATION", "GPU_BUDDY_CLEARED") not in got
    assert ("GPU_BUDDY_TOPDOWN_ALLOCATION", "GPU_BUDDY_CONTIGUOUS_ALLOCATION") in got
    assert ("GPU_BUDDY_TOPDOWN_ALLOCATION", "GPU_BUDDY_CLEARED") in got
    assert len(got) == 4
    # An arm given another arm's flag makes the same file as the flag swapped: one mutant.
    texts = [m.apply(SNIPPET) for m in generate(SNIPPET, flags)]
    assert len(texts) == len(set(texts))


def test_mutants_apply_and_ids_survive_edits_elsewhere():
    ms = generate(SNIPPET)
    assert len({m.id for m in ms}) == len(ms)
    for m in ms:
        assert m.apply(SNIPPET) != SNIPPET
        assert m.diff(SNIPPET, "buddy.rs").count("\n-") >= 1
    shifted = generate("// one more line\nconst UNUSED: u32 = 0;\n" + SNIPPET)
    assert [m.id for m in shifted] == [m.id for m in ms]
    assert [m.line for m in shifted] == [m.line + 2 for m in ms]


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert main(["mutate", "--backend", "rust@7.2", "--operator", "negate"]) == 2
    assert "not an operator of the Rust mutants" in capsys.readouterr().err
    assert main(["mutate", "--backend", "rust@7.2", "--timeout", "0"]) == 2
    assert "not a positive number" in capsys.readouterr().err
    assert main(["mutate", "--backend", "rust@7.2", "--backend", "native@7.2"]) == 2
    assert "exactly one native backend" in capsys.readouterr().err


def test_a_tree_without_the_binding_is_a_usage_error(capsys):
    from harness.trees import kernels

    if kernels.locate("6.12") is None or shutil.which("rustc") is None \
            or shutil.which("bindgen") is None:
        pytest.skip("needs a cached 6.12 tree, rustc and bindgen")
    assert main(["mutate", "--backend", "rust@6.12"]) == 2
    assert "no rust/kernel/gpu/buddy.rs in this tree" in capsys.readouterr().err


# -- on 7.2's buddy.rs ------------------------------------------------------------

def _tree():
    from harness.trees import kernels, resolve_tree

    if kernels.locate("7.2") is None:
        pytest.skip("no cached 7.2 tree (buddy-harness kernel fetch 7.2)")
    for tool in ("rustc", "bindgen"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not on PATH")
    return resolve_tree("rust@7.2", log=lambda _m: None)


def test_every_listed_survivor_is_a_mutant_of_7_2s_binding():
    from harness.backends.rust.build import BINDING
    from harness.mutation.rust_runner import header_flags, survivors_path

    tree = _tree()
    path = survivors_path("rust@7.2", tree)
    assert path.name == "rust@7.2.yaml" and path.is_file()
    ids = {m.id for m in generate((tree.root / BINDING).read_text(), header_flags(tree))}
    listed = survivors.load_file(path)
    assert listed and set(listed) <= ids, set(listed) - ids
    assert sum(e.kind == "open" for e in listed.values()) <= 5


def test_the_verb_judges_a_few_mutants_of_the_binding(tmp_path, capsys):
    """A sample that holds a killed mutant and one that does not compile, with the JSON and
    HTML reports; the second run builds nothing (per-mutant builds are cached by content)."""
    _tree()
    out, page = tmp_path / "m.json", tmp_path / "m.html"
    args = ["mutate", "--backend", "rust@7.2", "--operator", "swap", "--sample", "3",
            "--seed", "1", "--fuzz", "20", "--jobs", "2", "--json", str(out),
            "--html", str(page)]
    rc = main(args)
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert results.problems(data) == [] and data["verb"] == "mutate"  # the C's model
    assert rc == (1 if data["counts"]["survived"] or data["problems"] else 0)
    assert sum(data["counts"].values()) == 3 == len(data["mutants"])
    assert {m["status"] for m in data["mutants"]} >= {"killed", "did-not-compile"}, data
    assert all(m["diff"].startswith("--- a/rust/kernel/gpu/buddy.rs") for m in data["mutants"])
    assert "a sample of 3 of" in text and "<table>" in page.read_text()
    assert main(args) == rc
    again = json.loads(out.read_text())
    assert [m["status"] for m in again["mutants"]] == [m["status"] for m in data["mutants"]]


def test_the_corpus_kills_a_dropped_teardown_by_its_leak():
    """Dropping gpu_buddy_fini from GpuBuddyInner's PinnedDrop leaks the C's block
    structures: every binding-layer case now counts them after the drop, so the first case
    kills it (the thread stress, the judge that caught it before, runs after the corpus)."""
    from harness.backends.rust.build import BINDING
    from harness.mutation.runner import KILLED
    from harness.mutation.rust_runner import RustBench, header_flags

    tree = _tree()
    src = (tree.root / BINDING).read_text()
    (m,) = [m for m in generate(src, header_flags(tree))
            if m.operator == "drop" and "gpu_buddy_fini" in m.original]
    bench = RustBench(tree, src, [ROOT / "specs"], 10.0)  # the verb's default for rust@
    try:
        v = bench.judge(m, 0)
    finally:
        bench.close()
    assert v.status == KILLED and "leak:" in v.by and "block structures still allocated" in v.by, v


def test_a_build_failure_without_a_diagnostic_is_not_kept_as_the_verdict(monkeypatch):
    """A compiler error is cached with the mutant's build; a failure with no diagnostic (a
    compiler killed by the machine, say) is reported but not cached."""
    from harness.backends.rust import build as rust_build
    from harness.backends.rust.build import BINDING, RustBuildError
    from harness.mutation.rust_runner import RustBench

    tree = _tree()
    bench = RustBench.__new__(RustBench)  # only the building half: no corpus, no baseline
    bench.tree, bench.rc = tree, rust_build.rustc()
    bench.base = rust_build.build(tree, log=lambda _m: None)
    text = f"// {_unique()}\n" + (tree.root / BINDING).read_text()
    calls = []

    def fails(message):
        def build_kernel(*_a, **_k):
            calls.append(message)
            raise RustBuildError(message)
        return build_kernel

    monkeypatch.setattr(rust_build, "_build_kernel", fails("compiling failed: (no output)"))
    assert bench.build(text) == "compiling failed: (no output)"
    monkeypatch.setattr(rust_build, "_build_kernel",
                        fails("compiling failed: error[E0308]: mismatched types at x"))
    assert "E0308" in bench.build(text)
    assert "E0308" in bench.build(text) and len(calls) == 2  # the second from the cache


def _unique() -> str:
    import os
    import time

    return f"a text no other build has: {os.getpid()} {time.time_ns()}"


def test_the_documented_mutant_count_and_operators_are_the_binding_s():
    """docs/mutation-rust.md says how many mutants 7.2's buddy.rs has, by operator."""
    import collections
    import re

    from harness.backends.rust.build import BINDING
    from harness.mutation.rust_runner import header_flags

    tree = _tree()
    ms = generate((tree.root / BINDING).read_text(), header_flags(tree))
    text = (ROOT / "docs" / "mutation-rust.md").read_text()
    said = re.search(r"Linux 7\.2's `buddy\.rs` has (\d+) mutants: (.*?) \(it has", text, re.S)
    assert said, "docs/mutation-rust.md no longer states the count in the words this test reads"
    per = {op: int(n) for n, op in re.findall(r"(\d+)\s+`(\w+)`", said.group(2))}
    assert (len(ms), per) == (int(said.group(1)), dict(collections.Counter(m.operator for m in ms)))
