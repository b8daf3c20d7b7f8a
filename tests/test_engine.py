"""The engine: expectations and invariants are checked, and can fail."""

from __future__ import annotations

import pytest

from harness.backends.base import BackendCrash, Block, Capabilities
from harness.backends.reference import ReferenceBackend
from harness.engine import run_case
from tests.helpers import load_one

SIMPLE = """
id: t.simple
title: one 16M block at the top
source: {kind: extra, ref: test}
params:
  chunk: [4K, 64K]
buddy: {base_offset: 0, size: 1G, chunk_size: chunk}
steps:
  - alloc: {as: a, mode: simple, size: 16M, min_block_size: 16M}
    expect:
      blocks: [{offset: 1G - 16M, size: 16M}]
      avail_delta: -16M
      count: 1
  - free: a
    expect: {avail: 1G}
"""


def run_all(case, backend=None):
    backend = backend or ReferenceBackend()
    return [run_case(case, ps, backend) for ps in case.combinations()]


def test_passing_case_passes_for_every_params(tmp_path):
    outs = run_all(load_one(tmp_path, SIMPLE))
    assert [o.status for o in outs] == ["pass", "pass"]
    assert [o.params for o in outs] == ["chunk=4K", "chunk=64K"]
    steps = outs[0].trace.steps
    assert [s.verb for s in steps] == ["alloc", "free"]
    assert steps[0].blocks == [Block(offset=(1 << 30) - (16 << 20), order=12, size=16 << 20)]
    assert steps[1].avail == 1 << 30


@pytest.mark.parametrize(
    "bad, message",
    [
        ("blocks: [{offset: 0, size: 16M}]", "block 0: expected offset 0, got 1008M"),
        ("count: 2", "expected 2 block(s), got 1"),
        ("total: 8M", "expected total 8M, got 16M"),
        ("avail: 1G", "expected avail 1G, got 1008M"),
        ("avail_delta: -8M", "expected avail_delta -8M, got -16M"),
        ("error: ENOSPC", "expected error ENOSPC, got success"),
        ("within: [0, 512M]", "is not within [0, 512M)"),
        ("each: {aligned: 32M}", "expected each block aligned 32M"),
        ("each: {order: 3}", "expected each block order 3"),
    ],
)
def test_each_expectation_can_fail(tmp_path, bad, message):
    case = load_one(tmp_path, f"""
        id: t.bad
        title: a wrong expectation fails
        source: {{kind: extra, ref: test}}
        buddy: {{base_offset: 0, size: 1G, chunk_size: 4K}}
        steps:
          - alloc: {{as: a, size: 16M, min_block_size: 16M}}
            expect: {{{bad}}}
    """)
    (out,) = run_all(case)
    assert out.status == "fail"
    assert message in out.message
    assert out.message.startswith("step 1 (line 6):")
    assert "[state: avail=" in out.message


def test_unexpected_error_fails(tmp_path):
    case = load_one(tmp_path, """
        id: t.enospc
        title: too big
        source: {kind: extra, ref: test}
        layer: core
        buddy: {size: 16M, chunk_size: 4K}
        steps:
          - alloc: {size: 32M}
    """)
    (out,) = run_all(case)
    assert out.status == "fail" and "expected success, got error EINVAL" in out.message


def test_repeat_until_counts_iterations(tmp_path):
    case = load_one(tmp_path, """
        id: t.fill
        title: fill a 16M space with 4M blocks
        source: {kind: extra, ref: test}
        buddy: {base_offset: 0, size: 16M, chunk_size: 4K}
        steps:
          - repeat:
              until: ENOSPC
              max: 10
              steps:
                - alloc: {as: 'b{i}', size: 4M, min_block_size: 4M}
            expect: {iterations: 4}
          - check: {avail: 0}
          - free: b2
          - check: {avail: 4M}
    """)
    (out,) = run_all(case)
    assert out.status == "pass", out.message


class Leaky(ReferenceBackend):
    """Wrong on purpose: avail drops a chunk on every free."""

    def create(self, size, chunk_size):
        mm = super().create(size, chunk_size)
        free = mm.free

        def bad_free(handle, cleared=False):
            free(handle, cleared)
            mm._avail_skew = getattr(mm, "_avail_skew", 0) + chunk_size

        mm.free = bad_free
        return _Skewed(mm)


class _Skewed:
    def __init__(self, mm):
        self.mm = mm

    def __getattr__(self, name):
        return getattr(self.mm, name)

    @property
    def avail(self):
        return self.mm.avail - getattr(self.mm, "_avail_skew", 0)


def test_invariant_violation_is_reported_with_step_and_state(tmp_path):
    case = load_one(tmp_path, """
        id: t.inv
        title: free then look
        source: {kind: extra, ref: test}
        layer: core
        buddy: {size: 16M, chunk_size: 4K}
        steps:
          - alloc: {as: a, size: 4M}
          - free: a
    """)
    (out,) = run_all(case, Leaky())
    assert out.status == "fail"
    assert out.message.startswith("step 2 (line 8): invariant: avail")


class Crashy(ReferenceBackend):
    name = "crashy"

    def create(self, size, chunk_size):
        raise BackendCrash("SIGSEGV in gpu_buddy_init", "signal")


def test_backend_crash_is_an_outcome(tmp_path):
    (out,) = run_all(load_one(tmp_path, SIMPLE.replace("[4K, 64K]", "[4K]")), Crashy())
    assert out.status == "crash" and "SIGSEGV" in out.message


class Old(ReferenceBackend):
    capabilities = Capabilities(version="6.1", features=frozenset({"trim"}))


def test_missing_features_skip_with_reason(tmp_path):
    case = load_one(tmp_path, """
        id: t.req
        title: needs clear
        source: {kind: extra, ref: test}
        requires: [clear]
        buddy: {base_offset: 0, size: 16M, chunk_size: 4K}
        steps:
          - alloc: {size: 4K, flags: [clear]}
    """)
    (out,) = run_all(case, Old())
    assert out.status == "skip" and "lacks clear" in out.message


def test_creation_error_expected(tmp_path):
    case = load_one(tmp_path, """
        id: t.chunk
        title: chunk below 4K
        source: {kind: extra, ref: test}
        layer: core
        buddy: {size: 16M, chunk_size: 2K, expect: {error: EINVAL}}
        steps: []
    """)
    (out,) = run_all(case)
    assert out.status == "pass", out.message
