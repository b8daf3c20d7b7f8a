"""The kernel's C under ASan + UBSan: the corpus, 100,000 fuzzed operations, and proof
that a memory error or a leak is reported, on every kernel version (``tox -e sanitize``).

Runs only with ``--native-sanitize``.  Versions: every cached tree, plus the native
backends named with ``--backend`` (fetched on first use, as the generated tests do).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter

import pytest

from harness import expectations
from harness.backends.base import RANGE, BackendCrash, Op
from harness.backends.batch import run_batch
from harness.backends.native import NativeBackend, open_backend
from harness.backends.native.testing import available_trees
from harness.divergence import gate
from harness.divergence.fuzz import FLAG_FEATURES
from harness.pytest_plugin import backend_names
from harness.runner import EXPECTED, run_one, select
from harness.spec.loader import load_paths

K, M, G = 1 << 10, 1 << 20, 1 << 30
SANITIZER_TEXT = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
FUZZ_OPS = 100_000
ROUND_OPS = 5_000  # per allocator: one batch, one round trip
SEED = 20_240_601
# (size, chunk): dense, several roots, large chunks, a 2^40 space, a size the C rounds down.
SHAPES = [(64 * M, 4 * K), (G + 12 * M, 4 * K), (768 * M, 64 * K), (12 * G, M),
          (1 << 40, 4 * K), (8 * M + 3000, 8 * K)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "native_name" in metafunc.fixturenames:
        given = {n for n in backend_names(metafunc.config) if n.startswith("native")}
        names = sorted(set(available_trees()) | given)
        metafunc.parametrize("native_name", names or [""], ids=names or ["no-tree"])


@pytest.fixture
def sanitized(request: pytest.FixtureRequest, native_name: str):
    """The ASan + UBSan build of ``native_name``; its worker starts on first use."""
    if not request.config.getoption("native_sanitize"):
        pytest.skip("sanitizer tests run only with --native-sanitize (tox -e sanitize)")
    if shutil.which(os.environ.get("CC") or "gcc") is None:
        pytest.skip("no C compiler (gcc) on PATH")
    if not native_name:
        pytest.skip("no kernel tree: run `buddy-harness kernel fetch 7.2` or pass "
                    "--backend native@VERSION")
    b = open_backend(native_name, kernel_src=request.config.getoption("kernel_src"),
                     sanitize=True, log=lambda _m: None)
    assert b.build.sanitize
    yield b
    b.close()


def _reports(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if any(t in ln for t in SANITIZER_TEXT)]


def _leak_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn LeakSanitizer on for workers started from now on (the worker puts the
    caller's ASAN_OPTIONS after its own detect_leaks=0, so this wins)."""
    mine = os.environ.get("ASAN_OPTIONS")
    monkeypatch.setenv("ASAN_OPTIONS", f"{mine}:detect_leaks=1" if mine else "detect_leaks=1")


# -- 1. the corpus ---------------------------------------------------------------

def test_corpus_is_clean_under_sanitizers(sanitized: NativeBackend,
                                          pytestconfig: pytest.Config) -> None:
    specs = pytestconfig.rootpath / "specs"
    loaded = load_paths([specs])
    assert not loaded.errors
    exp = expectations.load([specs], sanitized.name)
    items = list(select(loaded.cases, None))
    t0 = time.monotonic()
    outcomes = [run_one(c, ps, sanitized, exp) for c, ps in items]
    took = time.monotonic() - t0
    stderr = sanitized.close()
    counts = Counter(o.status for o in outcomes)
    print(f"\n{sanitized.name} (ASan+UBSan): corpus of {len(outcomes)} items in {took:.2f} s "
          f"{dict(counts)}")
    crashes = [f"{o.case_id}[{o.params}]: {o.message}" for o in outcomes if o.status == "crash"]
    assert not crashes, "\n".join(crashes)
    wrong = [f"{o.case_id}[{o.params}]: {o.status}: {o.message}" for o in outcomes
             if o.status not in EXPECTED]
    assert not wrong, "\n".join(wrong)
    # The run's own items (run --fuzz) are known ids too, as `run` counts them.
    assert not exp.stale({(c.id, ps.id) for c, ps in items} | gate.known_ids(sanitized.name))
    assert counts["pass"] > len(outcomes) // 2  # it really ran
    assert not _reports(stderr), stderr


# -- 2. fuzzed operations --------------------------------------------------------

def _alloc(rng: random.Random, size: int, chunk: int, bits: list[int]) -> Op:
    pages = size // chunk
    flags = sum(b for b in bits if rng.random() < 0.2)
    nbytes = chunk * rng.choice([1, 1, 1, 2, 3, 4, 5, 8, 16, 31, 64, 100, 256, 1000])
    mbs = chunk << rng.choice([0, 0, 0, 1, 2, 4])
    start = end = 0
    if flags & RANGE or rng.random() < 0.1:
        start = rng.randrange(pages) * chunk
        end = min(pages * chunk, start + nbytes * rng.choice([1, 1, 2, 4, 64]))
    odd = rng.random()  # ~10% of requests the allocator must refuse or handle at an edge
    if odd < 0.02:
        nbytes = rng.randrange(0, 3 * chunk)  # zero or not a whole chunk
    elif odd < 0.04:
        nbytes = (pages + rng.randint(0, 4)) * chunk  # the whole space or more
    elif odd < 0.06:
        mbs = rng.choice([chunk // 2, 3 * chunk, nbytes << 1])  # bad min_block_size
    elif odd < 0.08:
        start, end = end, start  # inverted range
    elif odd < 0.10:
        start, end = start + rng.randrange(1, chunk), size + chunk  # unaligned, past the end
    return Op("alloc", {"start": start, "end": end, "size": nbytes, "min_block_size": mbs,
                        "flags": flags})


def _round(rng: random.Random, size: int, chunk: int, backend: NativeBackend,
           n: int) -> list[Op]:
    """``n`` ops on one allocator, then a free of every allocation (gone ones are no-ops)."""
    features = backend.capabilities.features
    bits = [b for b, f in FLAG_FEATURES.items() if f is None or f in features]
    ops: list[Op] = []
    live: list[int] = []  # alloc indexes not freed yet (some may have failed)
    allocs = 0
    while len(ops) < n:
        r = rng.random()
        if r < 0.5 or not live:
            ops.append(_alloc(rng, size, chunk, bits))
            live.append(allocs)
            allocs += 1
        elif r < 0.85:
            ops.append(Op("free", {"handle": live.pop(rng.randrange(len(live))),
                                   "cleared": "clear" in features and rng.random() < 0.5}))
        elif r < 0.93 and "trim" in features:
            args = {"handle": rng.choice(live), "size": chunk * rng.randint(1, 64)}
            if backend.tree.trim_start and rng.random() < 0.3:
                args["start"] = rng.randrange(size // chunk) * chunk
            ops.append(Op("trim", args))
        elif r < 0.95 and "reset_clear" in features:
            ops.append(Op("reset_clear", {"is_clear": rng.random() < 0.5}))
        else:
            ops.append(Op("counters"))
    return ops + [Op("free", {"handle": h}) for h in range(allocs)]


def test_fuzzed_operations_are_clean(sanitized: NativeBackend,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _leak_check(monkeypatch)  # everything is freed before fini, so a leak here is real
    rng = random.Random(SEED)
    done = rounds = 0
    seen: Counter[str] = Counter()
    t0 = time.monotonic()
    while done < FUZZ_OPS:
        size, chunk = SHAPES[rounds % len(SHAPES)]
        ops = _round(rng, size, chunk, sanitized, ROUND_OPS)
        where = f"{sanitized.name} round {rounds} ({size}, {chunk}), seed {SEED}"
        try:
            mm = sanitized.create(size, chunk)
            results = run_batch(mm, ops)
            during = mm.warnings()
            at_fini = mm.fini()
        except BackendCrash as e:
            pytest.fail(f"{where}: {e.kind}: {e}")
        assert not during, f"{where}: warnings during the ops: {during}"
        assert results[-1].avail == mm.size, f"{where}: not everything came back"
        assert not at_fini, f"{where}: fini warned with nothing held: {at_fini}"
        seen.update(f"{op.verb} {'ok' if r.ok else r.errno}" for op, r in zip(ops, results))
        done += len(results)
        rounds += 1
    took = time.monotonic() - t0
    stderr = sanitized.close()  # the worker exits here, so LeakSanitizer has spoken
    print(f"\n{sanitized.name} (ASan+UBSan, LSan on): {done:,} fuzzed operations in "
          f"{rounds} allocators, {took:.1f} s ({done / took:,.0f} ops/s); {dict(seen)}")
    assert not _reports(stderr), stderr
    assert seen["alloc ok"] and seen["alloc ENOSPC"] and seen["alloc EINVAL"]  # not vacuous


# -- 3. the checks can fail ------------------------------------------------------

def test_a_use_after_free_is_a_sanitizer_crash(sanitized: NativeBackend) -> None:
    mm = sanitized.create(64 * M, 4 * K)
    h, _ = mm.alloc(0, 0, 32 * M, 4 * K, 0)
    # Its buddy is free, so the first free merges and releases the block: the second
    # free reads freed memory, which no BUG_ON can see and only ASan reports.
    with pytest.raises(BackendCrash) as e:
        mm._double_free(h)
    assert e.value.kind == "sanitizer", e.value
    assert "AddressSanitizer: heap-use-after-free" in str(e.value)
    # The next allocator gets a fresh worker.
    mm2 = sanitized.create(64 * M, 4 * K)
    h2, _ = mm2.alloc(0, 0, 4 * M, 4 * K, 0)
    mm2.free(h2)
    assert mm2.fini() == []
    assert not _reports(sanitized.close())


def test_a_leak_is_reported_when_leak_checking(sanitized: NativeBackend,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _leak_check(monkeypatch)
    mm = sanitized.create(64 * M, 4 * K)
    mm.alloc(0, 0, 4 * M, 4 * K, 0)
    assert any("avail" in w for w in mm.fini())  # fini warns about the block still held...
    assert "ERROR: LeakSanitizer: detected memory leaks" in sanitized.close()  # ...LSan too
