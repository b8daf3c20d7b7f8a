"""The binding fuzzer's domain and the teardown checks at drop.

The generator is judged by statistics over a seeded run, classified here from
the values drawn (not from the generator's own choices): every public operation
and every argument class appears. The teardown checks are proved on plants: a
buddy.rs whose GpuBuddy never tears the C allocator down (rust@), and a model
binding that never finalises over native@.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.backends.base import Op
from harness.backends.binding import U64_MAX, GpuBuddy
from harness.backends.reference import ReferenceBackend
from harness.divergence import binding_layer as bl
from harness.divergence import fuzz
from harness.divergence.binding_gen import MODIFIERS, program_at
from harness.divergence.program import Program
from tests import test_rust as rust

K, M, G = 1 << 10, 1 << 20, 1 << 30
MODES = ("simple", "topdown", "range")
SUBSETS = [tuple(m for i, m in enumerate(MODIFIERS) if mask >> i & 1) for mask in range(8)]


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _classes(prog: Program) -> Counter:
    """The argument classes of one program, from its values."""
    c: Counter = Counter()
    chunk, size, base = prog.chunk, prog.size, prog.base
    c["chunk:valid" if _pow2(chunk) and chunk >= 4 * K else "chunk:refused"] += 1
    if size > 4 * G:
        c["space:above-4G"] += 1
    if chunk and size % chunk:
        c["space:not-a-chunk-multiple"] += 1
    if base + size == 1 << 64:
        c["base:space-ends-at-2^64"] += 1
    if base + size > 1 << 64:
        c["base:offsets-pass-u64-max"] += 1
    ops = prog.ops
    if (len(ops) > 2 and ops[0].verb == ops[1].verb == "alloc"
            and any(o.verb == "drop" for o in ops[2:12])):
        c["state:fragmented"] += 1
    for op in ops:
        c[f"op:{op.verb}"] += 1
        if op.verb == "remake" and op.args["early"]:
            c["op:remake-gpubuddy-first"] += 1
        if op.verb != "alloc":
            continue
        a = op.args
        c[f"combo:{a['mode']}+{'+'.join(a['flags']) or 'none'}"] += 1
        mbs = a["min_block_size"]
        if not _pow2(mbs):
            c["mbs:no-alignment"] += 1
        elif mbs < chunk:
            c["mbs:below-chunk"] += 1
        elif mbs == chunk:
            c["mbs:chunk"] += 1
        else:
            c["mbs:above-chunk"] += 1
            if mbs > size:
                c["mbs:above-space"] += 1
        if a["size"] > 4 * G:
            c["size:above-4G"] += 1
        if a["size"] == 0:
            c["size:zero"] += 1
        if chunk and a["size"] % chunk:
            c["size:not-a-chunk-multiple"] += 1
        if a["mode"] != "range":
            continue
        s, e = a["start"], a["end"]
        if s == e:
            c["range:empty"] += 1
        elif s > e:
            c["range:inverted"] += 1
        elif e == U64_MAX:  # (never a chunk multiple)
            c["range:to-u64-max"] += 1
        elif chunk and (s % chunk or e % chunk):
            c["range:unaligned"] += 1
        elif s >= size:
            c["range:wholly-past-the-end"] += 1
        elif e > size:
            c["range:partly-past-the-end"] += 1
        else:
            c["range:inside"] += 1
    return c


WANT = {
    "chunk:valid", "chunk:refused", "space:above-4G", "space:not-a-chunk-multiple",
    "base:space-ends-at-2^64", "base:offsets-pass-u64-max", "state:fragmented",
    "op:alloc", "op:drop", "op:empty", "op:info", "op:remake", "op:remake-gpubuddy-first",
    "mbs:no-alignment", "mbs:below-chunk", "mbs:chunk", "mbs:above-chunk", "mbs:above-space",
    "size:above-4G", "size:zero", "size:not-a-chunk-multiple",
    "range:empty", "range:inverted", "range:unaligned", "range:to-u64-max",
    "range:wholly-past-the-end", "range:partly-past-the-end", "range:inside",
} | {f"combo:{m}+{'+'.join(s) or 'none'}" for m in MODES for s in SUBSETS}


def test_every_operation_and_argument_class_is_drawn():
    """2,000 programs of seed 1 reach every class, each at least 10 times, and every mode
    with every subset of the modifier flags."""
    feats = bl.BINDING.features(ReferenceBackend(), ReferenceBackend())
    seen: Counter = Counter()
    for i in range(2000):
        seen += _classes(program_at(1, i, feats))
    rare = {k: seen[k] for k in WANT if seen[k] < 10}
    assert not rare, rare


def test_the_model_side_meets_every_outcome():
    """Run on the model over the reference, the same programs are refused at creation,
    refused per call (EINVAL, ENOSPC), granted, end in the overflow panic, and remake
    and tear down cleanly."""
    ref = ReferenceBackend()
    feats = bl.BINDING.features(ref, ref)
    got: Counter = Counter()
    for i in range(600):
        side = bl.run_side(ref, "reference", program_at(1, i, feats))
        got[f"create:{side.create_errno or 'ok'}"] += 1
        got[f"crash:{side.crash and side.crash.kind}"] += 1
        got.update(s[0] for s in side.results)
        assert not side.warned, side.warned
    for k in ("create:ok", "create:EINVAL", "crash:panic", "ok", "EINVAL", "ENOSPC",
              "remake", "teardown", "info", "empty", "drop"):
        assert got[k], (k, got)


def test_programs_depend_only_on_seed_and_index():
    feats = bl.BINDING.features(ReferenceBackend(), ReferenceBackend())
    a = program_at(9, 41, feats)
    assert a == program_at(9, 41, feats)
    assert a != program_at(9, 42, feats)
    assert a.layer == "binding"


def test_dropping_the_gpubuddy_first_defers_fini_to_the_last_allocation():
    """As the Rust Arc does: the C allocator lives while an allocation holds it."""
    gb = GpuBuddy(ReferenceBackend(), 0, 16 * M, 4 * K)
    a = gb.alloc_blocks(("simple",), 4 * M, 4 * K)
    assert gb.close() == [] and gb.fini_warnings is None
    a.drop()
    assert gb.fini_warnings == []


def test_an_offset_past_u64_max_panics_in_the_model():
    from harness.backends.base import BackendCrash

    gb = GpuBuddy(ReferenceBackend(), U64_MAX - 4 * K + 1, 16 * M, 4 * K)
    with pytest.raises(BackendCrash) as e:
        gb.alloc_blocks(("topdown",), 4 * K, 4 * K)
    assert e.value.kind == "panic" and "overflow" in str(e.value)


def test_the_binding_layer_finds_shrinks_and_emits_over_any_core_backend(tmp_path):
    """Binding programs on the model binding over two core backends: the planted bug (a
    TopDown request served bottom-up) is found, shrunk to plain arguments and written as a
    binding case that passes on the reference only."""
    from harness.engine import run_case
    from harness.spec.loader import load_file
    from tests.test_fuzz import PLANTED

    names = ("reference", "planted")
    found, _ = fuzz.search(ReferenceBackend(), PLANTED, names, seed=7, examples=2000,
                           layer=fuzz.LAYERS["binding"])
    assert found is not None and found.program.layer == "binding"
    allocs = [op.args for op in found.program.ops if op.verb == "alloc"]
    assert len(found.program.ops) <= 3 and any(a["mode"] == "topdown" for a in allocs)
    assert all(not a["flags"] and a["min_block_size"] == found.program.chunk for a in allocs)
    path = tmp_path / "case.yaml"
    path.write_text(bl.to_yaml(found, names, 7))
    (case,) = load_file(path)
    assert case.layer == "binding"
    ps = case.combinations()[0]
    assert run_case(case, ps, ReferenceBackend()).status == "pass"
    assert run_case(case, ps, PLANTED).status == "fail"


def test_an_exception_outside_the_contract_ends_a_binding_side_as_the_engine_words_it():
    from tests import malformed_results

    bad = malformed_results.backend("bad-exception")  # its free raises RuntimeError
    prog = Program(16 * M, 4 * K, [_alloc("simple", size=4 * K), Op("drop", {"handle": 0})],
                   layer="binding")
    side = bl.run_side(bad, "bad", prog)
    assert side.crash is not None and side.crash.kind == "exception"
    assert "the backend raised RuntimeError: free exploded" in str(side.crash)


# -- teardown on the model binding over native@ -----------------------------------------

LEAF = rust.SIMPLE_16M  # 1G in 4K chunks: one root block


def _native():
    from harness.backends.native import testing

    if "native@7.2" not in testing.available_trees():
        pytest.skip("native@7.2 is not cached")
    from harness.backends.native import open_backend

    return open_backend("native@7.2", log=lambda m: None)


def test_a_model_binding_that_never_finalises_fails_on_native(tmp_path, monkeypatch):
    from harness.engine import run_case
    from tests.helpers import load_one

    native = _native()
    try:
        case = load_one(tmp_path, LEAF)
        ps = case.combinations()[0]
        assert run_case(case, ps, native).status == "pass"
        monkeypatch.setattr(GpuBuddy, "close", lambda self: [])
        out = run_case(case, ps, native)
        assert out.status == "fail", out.message
        assert "the allocator was never finalised" in out.message, out.message
        assert "1 block structures still allocated" in out.message, out.message
    finally:
        native.close()


# -- teardown on rust@ ---------------------------------------------------------------------

needs_rust = pytest.mark.skipif(rust.SKIP is not None, reason=rust.SKIP or "")
NO_FINI = rust.BINDING_MINIATURES["never-finalises"]  # GpuBuddyInner's drop skips fini


def _no_fini_tree(tmp_path: Path) -> Path:
    return rust._scratch(tmp_path, lambda t: t.replace(*NO_FINI, 1))


@needs_rust
def test_a_gpubuddy_that_never_tears_down_fails_a_case_with_the_count(tmp_path):
    from harness.engine import run_case
    from harness.spec.loader import load_file
    from tests.helpers import load_one

    tree = _no_fini_tree(tmp_path)
    bad = rust._open(f"rust@{tree}")
    good = rust._open("rust@7.2")
    try:
        case = load_one(tmp_path, LEAF)
        ps = case.combinations()[0]
        assert run_case(case, ps, good).status == "pass"
        out = run_case(case, ps, bad)
        assert out.status == "fail", out.message
        # After every drop the one root is whole again: one structure left.
        assert "leak: 1 block structures still allocated after the GpuBuddy" in out.message
        # The fuzzer's divergence at a teardown becomes a case that shows the leak.
        found, _ = fuzz.search(ReferenceBackend(), bad, ("reference", "bad"), seed=3,
                               examples=500)
        assert found is not None
        path = tmp_path / "found.yaml"
        path.write_text(bl.to_yaml(found, ("reference", "bad"), 3))
        (emitted,) = load_file(path)
        eps = emitted.combinations()[0]
        assert run_case(emitted, eps, ReferenceBackend()).status == "pass"
        again = run_case(emitted, eps, bad)
        assert again.status == "fail" and "leak:" in again.message, again.message
    finally:
        bad.close()
        good.close()


@needs_rust
def test_bench_exits_1_when_the_thread_stress_leaks(tmp_path, monkeypatch, capsys):
    from harness.backends.rust import bench
    from harness.cli import main

    tree = _no_fini_tree(tmp_path)
    monkeypatch.setattr(bench, "_binding_cases", lambda specs: [])  # the stress alone
    assert main(["bench", "--backend", f"rust@{tree}"]) == 1
    out = capsys.readouterr().out
    assert "block structures leaked" in out and "thread stress" in out, out
    assert main(["bench", "--backend", "rust@7.2"]) == 0


def _alloc(mode: str, start: int = 0, end: int = 0, size: int = 0) -> Op:
    return Op("alloc", {"mode": mode, "start": start, "end": end, "size": size,
                        "min_block_size": 4 * K, "flags": ()})


@needs_rust
def test_the_real_binding_defers_fini_and_panics_as_the_model_does():
    """Hand-written programs for what the model was changed to say: a GpuBuddy dropped
    before its allocations, then made again; an offset past u64::MAX."""
    real = rust._open("rust@7.2")
    ref = ReferenceBackend()
    try:
        keep = Program(64 * M, 4 * K, [
            _alloc("simple", size=4 * M), _alloc("topdown", size=8 * M),
            Op("remake", {"early": True}), Op("drop", {"handle": 0}),
            _alloc("range", 0, 16 * M, 16 * M), Op("info"), Op("empty", {"handle": 2})],
            layer="binding")
        over = Program(M, 4 * K, [
            _alloc("range", 0, 8 * K, 8 * K),  # base + 4K: u64::MAX
            _alloc("topdown", size=4 * K)], layer="binding", base=U64_MAX - 8 * K + 1)
        for prog in (keep, over):
            a, b = bl.run_side(ref, "ref", prog), bl.run_side(real, "real", prog)
            assert bl.BINDING.compare(prog, a, b) is None, bl.BINDING.compare(prog, a, b)
        side = bl.run_side(real, "real", keep)
        assert [s[0] for s in side.results] == ["ok", "ok", "remake", "drop", "ok", "info",
                                                "empty", "end", "teardown"]
        assert side.results[2][1] == (0,) and side.results[-1][1] == (0,)  # both clean
        side = bl.run_side(real, "real", over)
        # the top block overflows
        assert side.crash is not None and side.crash.kind == "panic" and len(side.results) == 1
    finally:
        real.close()


# Plausible refactoring bugs in buddy.rs outside the domain the fuzzer used to draw (range
# edges only inside [0, size], min_block_size from one chunk up): the widened fuzzer finds
# each, and its shrunk program shows the argument class that reaches it.
WIDER = {
    "clamps-min-block-size-to-the-chunk": (
        "min_block_size.as_usize() as u64,",
        "min_block_size.as_usize().max(buddy.params.chunk_size.as_usize()) as u64,",
        lambda prog, a: a["min_block_size"] < prog.chunk),
    "clamps-range-end-to-the-space": (
        "let (start, end) = mode.range();",
        "let (start, end) = mode.range();\n        let end = end.min(self.0.params.size);",
        lambda prog, a: a["mode"] == "range" and a["end"] > prog.size),
}


@needs_rust
@pytest.mark.parametrize("name", sorted(WIDER))
def test_the_wider_domain_reaches_what_the_old_one_could_not(tmp_path, name):
    old, new, reaches = WIDER[name]
    tree = rust._scratch(tmp_path, lambda t: t.replace(old, new, 1))
    bad = rust._open(f"rust@{tree}")
    try:
        found, _ = fuzz.search(ReferenceBackend(), bad, ("reference", name), seed=1,
                               examples=3000)
    finally:
        bad.close()
    assert found is not None, f"the binding fuzzer does not flag {name}"
    prog = found.program
    assert len(prog.ops) <= 3, prog
    assert any(op.verb == "alloc" and reaches(prog, op.args) for op in prog.ops), prog


def test_check_reads_the_accessors_of_the_binding(tmp_path, monkeypatch):
    """`check: base_offset / chunk_size` ask the allocator, not the case's own numbers,
    so a binding whose accessor is wrong fails (as `info` steps do in the fuzzer)."""
    from harness.engine import run_case
    from tests.helpers import load_one

    case = load_one(tmp_path, """
id: t.accessors
title: t
source: {kind: extra, ref: t}
buddy: {base_offset: 8G, size: 1G, chunk_size: 4K}
steps:
  - check: {base_offset: 8G, chunk_size: 4K, size: 1G}
""")
    ps = case.combinations()[0]
    assert run_case(case, ps, ReferenceBackend()).status == "pass"
    monkeypatch.setattr(GpuBuddy, "base_offset", lambda self: 0)
    out = run_case(case, ps, ReferenceBackend())
    assert out.status == "fail" and "expected base_offset 8G" in out.message, out.message
