"""Work bounds of a case: sound count bounds, defaults the corpus stays inside, raising them."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from harness.backends.reference import ReferenceBackend
from harness.engine import run_case
from harness.spec import SpecError, load_paths
from harness.spec.expr import Expr
from harness.spec.limits import DEFAULT, _values, _Work, bound
from harness.spec.model import Limits
from harness.spec.position import Pos
from tests.helpers import load_one

P = Pos("t", 1, 1)
UNBOUNDED = Limits(10**9, 10**30, 10**30)


def _work(case) -> int:
    env = {n: _values(v) for n, v in case.params.items()}
    b = case.buddy
    env["size"], env["chunk_size"] = bound(b.size, env), bound(b.chunk_size, env)
    env["base_offset"] = bound(b.base_offset, env) if b.base_offset else (0, 0)
    return _Work(UNBOUNDED).steps(case.steps, env, 0)


def test_the_corpus_stays_well_inside_the_defaults():
    loaded = load_paths(["specs"])
    assert not loaded.errors
    combos = max(math.prod(len(v) for v in c.params.values()) for c in loaded.cases)
    work = max(_work(c) for c in loaded.cases)
    assert combos * 10 <= DEFAULT.combinations, combos
    assert work * 10 <= DEFAULT.operations, work


_atoms = st.one_of(st.integers(0, 1 << 40).map(str), st.sampled_from(["a", "b"]))


@st.composite
def _exprs(draw, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(_atoms)
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "<<", ">>"]))
    return f"({draw(_exprs(depth - 1))} {op} {draw(_exprs(depth - 1))})"


@given(_exprs(), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
       st.integers(0, 100))
def test_bound_holds_every_value_the_engine_computes(text, a1, a2, b1, b2):
    e = Expr(text, P)
    env_bounds = {"a": (min(a1, a2), max(a1, a2)), "b": (min(b1, b2), max(b1, b2))}
    lo, hi = bound(e, env_bounds)
    for a in {a1, a2, (a1 + a2) // 2}:
        for b in {b1, b2, (b1 + b2) // 2}:
            try:
                value = e.eval({"a": a, "b": b})
            except SpecError:
                continue  # the engine stops the case there
            assert lo <= value <= hi, (text, a, b, value, lo, hi)


CASE = """
id: t.raised
title: needs more than the default
source: {kind: extra, ref: test}
layer: core
limits: {operations: 300000, until: 20000}
buddy: {size: 1G, chunk_size: 4K}
steps:
  - repeat:
      count: 150000
      steps: [{check: {avail: 1G}}]
  - repeat:
      until: ENOSPC
      steps: [{alloc: {size: 32K}}]
"""


def test_a_case_raises_its_limits_and_until_without_max_stops_at_its_limit(tmp_path):
    case = load_one(tmp_path, CASE)
    assert case.limits == Limits(operations=300_000, until=20_000)
    out = run_case(case, case.combinations()[0], ReferenceBackend())
    # 1G / 32K = 32768 allocations fit: the loop meets its until limit first.
    assert out.status == "fail" and "20000 iterations ran without ENOSPC" in out.message


def test_lowering_a_limit_applies_it(tmp_path):
    text = CASE.replace("{operations: 300000, until: 20000}", "{operations: 1000}")
    try:
        load_one(tmp_path, text)
    except SpecError as e:
        assert "over the limit of 1,000" in str(e) and ":9:14:" in str(e)
    else:
        raise AssertionError("loaded")
