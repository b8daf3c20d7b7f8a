"""Allocation-failure injection: fail_alloc in cases, the engine's roll-back checks, the
native shim's failslab, and fuzz --inject.

The engine tests use small Python injectors over the reference (one that rolls
back as it must, and ones that do not), so they run everywhere; the native
tests run on every cached kernel tree and are skipped without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from harness.backends.base import FAIL_ALLOC, FEATURES, BackendDefaults, BuddyError, Capabilities
from harness.backends.native.testing import available_trees, why_unavailable
from harness.backends.reference import ReferenceBackend
from harness.engine import run_case
from tests import miniatures
from tests.helpers import load_one

K, M, G = 1 << 10, 1 << 20, 1 << 30

STEP = """
id: t.fail-alloc
title: an injected failure is rolled back
source: {kind: extra, ref: test}
layer: core
buddy: {size: 1G, chunk_size: 4K}
steps:
  - alloc: {size: 4K, fail_alloc: 3}
    expect: {error: ENOMEM}
  - alloc: {as: a, size: 4K}
    expect: {blocks: [{offset: 1G - 4K, size: 4K}]}
"""

CREATE = """
id: t.fail-alloc-init
title: creation fails
source: {kind: extra, ref: test}
layer: core
buddy: {size: 7M, chunk_size: 4K, fail_alloc: 2, expect: {error: ENOMEM}}
steps: []
"""


class _Injecting(miniatures.Wrapped):
    """Fails the armed request with ENOMEM; ``mode`` says how well it rolls back."""

    def __init__(self, inner, backend) -> None:
        super().__init__(inner)
        self.backend = backend
        self.taken = 0

    @property
    def avail(self) -> int:
        return self.inner.avail - self.taken

    def alloc(self, start, end, size, min_block_size, flags):
        b = self.backend
        if b.armed:
            b.armed, b.fired = 0, 1
            if b.mode == "recovers":
                return self.inner.alloc(start, end, size, min_block_size, flags)
            if b.mode == "keeps-a-chunk":
                self.taken += 4 * K
            raise BuddyError("ENOMEM")
        return self.inner.alloc(start, end, size, min_block_size, flags)


class InjectingBackend(BackendDefaults):
    """The reference with a pretend failslab: arm_failure makes the next alloc fail."""

    capabilities = Capabilities("7.2", FEATURES | {FAIL_ALLOC})

    def __init__(self, mode: str = "rolls-back", never_fires: bool = False) -> None:
        self.name = f"injecting-{mode}"
        self.mode, self.never_fires = mode, never_fires
        self.armed = self.fired = 0

    def create(self, size, chunk_size):
        if self.armed and not self.never_fires:
            self.armed, self.fired = 0, 1
            raise BuddyError("ENOMEM")
        return _Injecting(ReferenceBackend().create(size, chunk_size), self)

    def arm_failure(self, nth: int) -> None:
        self.armed = 0 if self.never_fires else nth

    def failures_fired(self) -> tuple[int, int]:
        fired, self.fired, self.armed = self.fired, 0, 0
        return fired, 0

    def close(self) -> None:
        pass


def _run(tmp_path, text, backend):
    case = load_one(tmp_path, text)
    return run_case(case, case.combinations()[0], backend)


@pytest.mark.treeless
def test_a_case_with_fail_alloc_requires_the_capability(tmp_path):
    case = load_one(tmp_path, STEP)
    assert FAIL_ALLOC in case.requires
    out = run_case(case, case.combinations()[0], ReferenceBackend())
    assert out.status == "skip"
    assert out.message == "reference cannot inject allocation failures (fail_alloc)"


@pytest.mark.treeless
def test_a_rolled_back_failure_passes(tmp_path):
    assert _run(tmp_path, STEP, InjectingBackend()).status == "pass"
    assert _run(tmp_path, CREATE, InjectingBackend()).status == "pass"


@pytest.mark.treeless
def test_a_failure_that_keeps_memory_fails_the_case(tmp_path):
    out = _run(tmp_path, STEP.replace("    expect: {error: ENOMEM}\n", ""),
               InjectingBackend("keeps-a-chunk"))
    assert out.status == "fail"
    assert "did not give back what it took: avail 1G -> 1048572K" in out.message


@pytest.mark.treeless
def test_an_injection_that_never_fires_fails_the_case(tmp_path):
    for text in (STEP, CREATE):
        out = _run(tmp_path, text, InjectingBackend(never_fires=True))
        assert out.status == "fail"
        assert "fail_alloc: " in out.message and "never fired" in out.message


@pytest.mark.treeless
def test_without_error_a_recovered_request_is_allowed(tmp_path):
    text = STEP.replace("    expect: {error: ENOMEM}\n", "")
    assert _run(tmp_path, text, InjectingBackend("recovers")).status == "fail"  # 2nd alloc
    text = text.replace("expect: {blocks: [{offset: 1G - 4K, size: 4K}]}",
                        "expect: {blocks: [{offset: 1G - 8K, size: 4K}]}")
    assert _run(tmp_path, text, InjectingBackend("recovers")).status == "pass"
    # With the errno stated, recovering is a failure of the case.
    out = _run(tmp_path, STEP, InjectingBackend("recovers"))
    assert out.status == "fail" and "expected error ENOMEM, got success" in out.message


@pytest.mark.treeless
@pytest.mark.parametrize("mode", ["rolls-back", "recovers"])
def test_fuzz_inject_is_quiet_on_an_allocator_that_keeps_its_promise(mode):
    from harness.divergence import fuzz

    finding, stats = fuzz.search(ReferenceBackend(), InjectingBackend(mode), ("r", mode),
                                 seed=5, examples=300, inject=True)
    assert finding is None, finding.program.describe() if finding else ""
    assert stats.examples == 300


@pytest.mark.treeless
def test_fuzz_inject_catches_a_roll_back_that_keeps_memory():
    from harness.divergence import fuzz, inject

    finding, _ = fuzz.search(ReferenceBackend(), InjectingBackend("keeps-a-chunk"),
                             ("reference", "keeps"), seed=5, examples=300, inject=True)
    assert finding is not None
    assert isinstance(finding.program, inject.InjectedProgram)
    assert finding.divergence.what == "avail"
    assert len(finding.program.ops) <= 2, finding.program.describe()


# -- the native shim ------------------------------------------------------------------

SKIP = why_unavailable()
TREES = available_trees() if SKIP is None else {}
native = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@contextlib.contextmanager
def _opened(name: str) -> Iterator:
    from harness.backends.native import open_backend

    b = open_backend(name, log=lambda _m: None, timeout=1.0)
    try:
        yield b
    finally:
        b.close()


@native
@pytest.mark.parametrize("name", sorted(TREES) or ["native"])
def test_the_shim_fails_exactly_the_nth_allocation(name):
    with _opened(name) as b:
        mm = b.create(G, 4 * K)
        # A 4K request in a fresh 1G space splits 18 times: 36 block structures.
        b.arm_failure(37)
        mm.alloc(0, 0, 4 * K, 4 * K, 0)
        assert b.failures_fired() == (0, 1 + 36)  # the root and its descendants
        mm2 = b.create(G, 4 * K)
        b.arm_failure(1)
        with pytest.raises(BuddyError):
            mm2.alloc(0, 0, 4 * K, 4 * K, 0)
        fired, _live = b.failures_fired()
        assert fired == 1
        assert mm2.avail == G
        # Disarmed: the next request is whole again.
        mm2.alloc(0, 0, 4 * K, 4 * K, 0)
        assert b.failures_fired()[0] == 0


@native
@pytest.mark.parametrize("name", sorted(TREES) or ["native"])
def test_creation_failure_leaves_no_block_structure(name):
    with _opened(name) as b:
        for nth in range(1, 6):
            b.arm_failure(nth)
            with pytest.raises(BuddyError) as info:
                b.create(7 * M, 4 * K)
            assert info.value.errno == "ENOMEM"
            assert b.failures_fired() == (1, 0)


@native
@pytest.mark.parametrize("name", sorted(TREES) or ["native"])
def test_a_block_structure_outliving_the_last_fini_is_a_warning(name):
    with _opened(name) as b:
        mm = b.create(G, 4 * K)
        h, _ = mm.alloc(0, 0, 4 * K, 4 * K, 0)
        b.worker().request("L")  # test-only: one structure taken from the slab and lost
        mm.free(h)
        assert mm.fini() == ["leak: 1 block structures still allocated after the last fini"]
        mm2 = b.create(G, 4 * K)  # counted from the loss on: the next allocator is clean
        assert mm2.fini() == []


@native
def test_a_freed_block_structure_is_poisoned_so_use_after_free_crashes():
    """The roll-back use after free of Findings crashes without any sanitizer."""
    from harness.backends.base import BackendCrash

    name = "native@7.2" if "native@7.2" in TREES else sorted(TREES)[0]
    with _opened(name) as b:
        mm = b.create(528 * K, 4 * K)
        b.arm_failure(3)
        with pytest.raises(BuddyError):
            mm.alloc(0, 0, 4 * K, 4 * K, 0)
        with pytest.raises(BackendCrash) as info:
            mm.alloc(0, 0, 4 * K, 4 * K, 0)
            mm.fini()
        assert info.value.kind in ("signal", "timeout")


@native
def test_fuzz_inject_finds_the_roll_back_crash_and_shrinks_it():
    from harness.divergence import fuzz, inject

    name = "native@7.2" if "native@7.2" in TREES else sorted(TREES)[0]
    with _opened(name) as b:
        finding, stats = fuzz.search(ReferenceBackend(), b, ("reference", name), seed=1,
                                     examples=300, inject=True)
        assert finding is not None, f"nothing in {stats.examples} examples"
        assert isinstance(finding.program, inject.InjectedProgram)
        assert "crash after an injected allocation failure" in finding.divergence.what
        assert len(finding.program.ops) <= 2, finding.program.describe()


@native
def test_fuzz_inject_is_quiet_when_nothing_fires_wrong():
    """Injecting where no allocation happens (frees only) is the plain comparison."""
    from harness.backends.base import Op
    from harness.divergence import inject

    name = sorted(TREES)[0]
    with _opened(name) as b:
        prog = inject.InjectedProgram(G, 4 * K, [Op("alloc", {"start": 0, "end": 0,
                                                              "size": 4 * K,
                                                              "min_block_size": 4 * K,
                                                              "flags": 0}),
                                                 Op("free", {"handle": 0})], at=1, nth=1)
        sa, sb = inject.run_pair(ReferenceBackend(), b, ("reference", name), prog)
        assert inject.compare_injected(prog, sa, sb) is None
        assert isinstance(sb, inject.InjectedSide) and not sb.fired
