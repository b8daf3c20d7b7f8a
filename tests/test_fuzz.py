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


@pytest.mark.treeless
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


@pytest.mark.treeless
def test_emitted_case_reproduces_under_run(tmp_path, capsys):
    emit_dir = tmp_path / "found"
    with miniatures.registered({"planted": TopdownFromBottom}):
        rc = main(["fuzz", "--backend", "reference", "--backend", "planted", "--examples",
                   "2000", "--seed", "3", "--emit", str(emit_dir)])
        out = capsys.readouterr().out
        assert rc == 1, out
        assert "DIVERGENCE" in out and "reproduces (reference: pass, planted: fail)" in out
        assert main(["run", "--specs", str(emit_dir), "--backend", "reference"]) == 0
        assert main(["run", "--specs", str(emit_dir), "--backend", "planted"]) == 1


@pytest.mark.treeless
def test_a_seed_reproduces_the_same_finding():
    a = fuzz.search(ReferenceBackend(), PLANTED, ("r", "p"), seed=11, examples=2000)[0]
    b = fuzz.search(ReferenceBackend(), PLANTED, ("r", "p"), seed=11, examples=2000)[0]
    assert a is not None and b is not None
    assert a.program == b.program


@pytest.mark.treeless
def test_identical_backends_run_long_with_no_report():
    finding, stats = fuzz.search(ReferenceBackend(), ReferenceBackend(), ("a", "b"), seed=5,
                                 examples=1500)
    assert finding is None, finding.divergence.describe(("a", "b"))
    assert stats.examples == 1500 and stats.ops > 5000


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@pytest.mark.treeless
def test_generated_programs_cover_every_operation_and_flag():
    """The generator reaches every verb, flag, cleared frees, trims from a start, empty and
    exact windows, spaces above 4 GiB that are not powers of two, and the boundary values:
    block-sized requests and one chunk off them, requests the size of the biggest block,
    window edges on block boundaries and the space's end, trims to a block boundary from a
    start inside the block, min_block_size above the size."""
    from harness.divergence.gen import program_at

    seen: set[str] = set()
    features = fuzz.common_features(ReferenceBackend(), ReferenceBackend())
    ref = ReferenceBackend()
    for i in range(600):
        prog = program_at(1, i, features)
        c, pages = prog.chunk, prog.size // prog.chunk
        root = (1 << (pages.bit_length() - 1)) * c
        if prog.size > 1 << 32 and prog.size & (prog.size - 1):
            seen.add("big-npot-space")
        side = fuzz.run_side(ref, "r", prog)
        allocs = [op for op in prog.ops if op.verb == "alloc"]
        for n, op in enumerate(prog.ops):
            seen.add(op.verb)
            a = op.args
            if op.verb == "alloc":
                seen.update(f"flag:{bit}" for bit in fuzz.FLAG_FEATURES if a["flags"] & bit)
                if a["start"] and a["end"] == a["start"]:
                    seen.add("empty-window")
                if a["end"] and a["end"] == a["start"] + a["size"]:
                    seen.add("exact-window")
                if a["size"] % c == 0 and _pow2(a["size"] // c):
                    seen.add("block-sized")
                if a["size"] % c == 0 and (_pow2(a["size"] // c - 1) or _pow2(a["size"] // c + 1)):
                    seen.add("block-sized-one-chunk-off")
                if a["size"] == root and pages > 1:
                    seen.add("biggest-block")
                if a["size"] in (root - c, root + c) and pages > 2:
                    seen.add("biggest-block-one-chunk-off")
                if a["end"] == pages * c and a["start"] and _pow2(a["start"] // c):
                    seen.add("window-on-block-boundary-to-the-end")
                if a["min_block_size"] > a["size"] > 0:
                    seen.add("offset-aligned")
            if op.verb == "free" and a["cleared"]:
                seen.add("free-cleared")
            if op.verb == "trim" and "start" in a:
                seen.add("trim-start")
                h = a["handle"]
                r = side.results[n] if n < len(side.results) else None
                if (r is not None and r.ok and h < len(allocs) and a["start"] > 0
                        and _pow2(a["size"] // c) and r.blocks
                        and r.blocks[0].offset == a["start"]):
                    seen.add("trim-from-inside-to-a-block-boundary")
    want = {"alloc", "free", "trim", "reset_clear", "free-cleared", "trim-start",
            "empty-window", "exact-window", "big-npot-space", "block-sized",
            "block-sized-one-chunk-off", "biggest-block", "biggest-block-one-chunk-off",
            "window-on-block-boundary-to-the-end", "offset-aligned",
            "trim-from-inside-to-a-block-boundary"}
    want |= {f"flag:{bit}" for bit in fuzz.FLAG_FEATURES}
    assert want <= seen, want - seen


@pytest.mark.treeless
def test_programs_depend_only_on_seed_and_index():
    from harness.divergence.gen import program_at

    features = fuzz.common_features(ReferenceBackend(), ReferenceBackend())
    assert program_at(9, 41, features) == program_at(9, 41, features)
    assert program_at(9, 41, features) != program_at(9, 42, features)
    # Pinned: the same programs on every machine and Python version (SHA-512 string seeds).
    first = program_at(0, 0, features)
    assert (first.size, first.chunk, len(first.ops)) == PINNED_FIRST


PINNED_FIRST = (4259840, 65536, 16)


@pytest.mark.treeless
def test_parallel_search_finds_what_a_serial_one_finds():
    """Two processes and one give the same first divergence and the same shrunk case."""
    serial = fuzz.search(ReferenceBackend(), PLANTED, ("reference", "planted"), seed=7,
                         examples=2000)[0]
    par = fuzz.search(ReferenceBackend(), PLANTED, ("reference", "planted"), seed=7,
                      examples=2000, jobs=2, opener=_open_planted)[0]
    assert serial is not None and par is not None
    assert serial.program == par.program


def _open_planted(name: str):
    return ReferenceBackend() if name == "reference" else PLANTED


@pytest.mark.treeless
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
