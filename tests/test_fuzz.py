"""Differential fuzzing: a planted divergence is found, shrunk and written as a case that
reproduces it; identical backends run long with no report; seeds reproduce."""

from __future__ import annotations

import pytest

from harness.backends.base import TOPDOWN
from harness.backends.reference import ReferenceBackend
from harness.cli import main
from harness.divergence import emit, fuzz
from harness.engine import run_case
from harness.spec.loader import load_file
from tests import miniatures


class TopdownFromBottom(miniatures.Wrapped):
    """The planted divergence: TOPDOWN requests take the lowest block instead."""

    def alloc(self, start, end, size, min_block_size, flags):
        if flags & TOPDOWN:
            flags = flags & ~TOPDOWN
            return self.inner.alloc(0, self.inner.size, size, min_block_size, flags | 1)
        return self.inner.alloc(start, end, size, min_block_size, flags)


PLANTED = miniatures.MiniatureBackend("planted", TopdownFromBottom)


def test_planted_divergence_is_found_shrunk_and_reproduced(tmp_path):
    finding, stats = fuzz.search(ReferenceBackend(), PLANTED, ("reference", "planted"),
                                 seed=7, examples=2000)
    assert finding is not None, f"not found in {stats.examples} examples"
    # Shrunk: one TOPDOWN alloc shows it; the shrinker may keep a step or two of context.
    assert len(finding.program.ops) <= 3, finding.program.describe()
    assert any(op.args.get("flags", 0) & TOPDOWN for op in finding.program.ops)
    path = tmp_path / "case.yaml"
    path.write_text(emit.to_yaml(finding, ("reference", "planted"), seed=7))
    (case,) = load_file(path)
    assert case.source.kind == "regression"
    ps = case.combinations()[0]
    assert run_case(case, ps, ReferenceBackend()).status == "pass"
    assert run_case(case, ps, PLANTED).status == "fail"


def test_emitted_case_reproduces_under_run(tmp_path, monkeypatch, capsys):
    miniatures.register(monkeypatch, {"planted": TopdownFromBottom})
    emit_dir = tmp_path / "found"
    rc = main(["fuzz", "--backend", "reference", "--backend", "planted", "--examples", "2000",
               "--seed", "3", "--emit", str(emit_dir)])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "DIVERGENCE" in out and "reproduces (reference: pass, planted: fail)" in out
    assert main(["run", "--specs", str(emit_dir), "--backend", "reference"]) == 0
    assert main(["run", "--specs", str(emit_dir), "--backend", "planted"]) == 1


def test_a_seed_reproduces_the_same_finding():
    a = fuzz.search(ReferenceBackend(), PLANTED, ("r", "p"), seed=11, examples=2000)[0]
    b = fuzz.search(ReferenceBackend(), PLANTED, ("r", "p"), seed=11, examples=2000)[0]
    assert a is not None and b is not None
    assert a.program == b.program


def test_identical_backends_run_long_with_no_report():
    finding, stats = fuzz.search(ReferenceBackend(), ReferenceBackend(), ("a", "b"), seed=5,
                                 examples=1500)
    assert finding is None, finding.divergence.describe(("a", "b"))
    assert stats.examples == 1500 and stats.ops > 5000


def test_generated_programs_cover_every_operation_and_flag():
    """The generator reaches every verb, flag, cleared frees, trims from a start, empty and
    exact windows, and spaces above 4 GiB that are not powers of two."""
    from hypothesis import given, settings

    seen: set[str] = set()
    features = fuzz.common_features(ReferenceBackend(), ReferenceBackend())

    @settings(max_examples=400, database=None, derandomize=True)
    @given(fuzz.programs(features))
    def collect(prog):
        if prog.size > 1 << 32 and prog.size & (prog.size - 1):
            seen.add("big-npot-space")
        for op in prog.ops:
            seen.add(op.verb)
            a = op.args
            if op.verb == "alloc":
                seen.update(f"flag:{bit}" for bit in fuzz.FLAG_FEATURES if a["flags"] & bit)
                if a["start"] and a["end"] == a["start"]:
                    seen.add("empty-window")
                if a["end"] and a["end"] == a["start"] + a["size"]:
                    seen.add("exact-window")
            if op.verb == "free" and a["cleared"]:
                seen.add("free-cleared")
            if op.verb == "trim" and "start" in a:
                seen.add("trim-start")

    collect()
    want = {"alloc", "free", "trim", "reset_clear", "free-cleared", "trim-start",
            "empty-window", "exact-window", "big-npot-space"}
    want |= {f"flag:{bit}" for bit in fuzz.FLAG_FEATURES}
    assert want <= seen, want - seen


def test_usage_errors_exit_2(capsys):
    assert main(["fuzz", "--backend", "reference"]) == 2
    assert "exactly two" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["native@7.2", "native@6.12", "native@6.1"])
def test_reference_and_native_agree_on_random_programs(name):
    from harness.backends.native import testing

    if name not in testing.available_trees():
        pytest.skip(f"{name} is not cached")
    from harness.backends.native import open_backend

    native = open_backend(name, log=lambda m: None)
    try:
        finding, stats = fuzz.search(ReferenceBackend(), native, ("reference", name), seed=1,
                                     examples=400)
    finally:
        native.close()
    assert finding is None, finding.divergence.describe(("reference", name))
