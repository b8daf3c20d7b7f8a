"""The native backend: the kernel's own C in a worker process.

Runs on every kernel tree found ($BUDDY_HARNESS_KERNEL_SRC, and the cached
7.2 / 6.12 / 6.1 trees); skipped with the reason when there is none or no gcc.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from harness.backends import batch
from harness.backends.base import (
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    BackendCrash,
    BackendUnavailable,
    BuddyError,
    Op,
)
from harness.backends.native.testing import available_trees, why_unavailable
from harness.backends.reference import ReferenceBackend

SKIP = why_unavailable()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
TREES = available_trees() if SKIP is None else {}
NAMES = sorted(TREES) or ["native"]

K, M, G = 1 << 10, 1 << 20, 1 << 30


def _open(name: str, **kw):
    from harness.backends.native import open_backend

    return open_backend(name, log=lambda _m: None, **kw)


@pytest.fixture(params=NAMES)
def backend(request):
    b = _open(request.param)
    yield b
    b.close()


# -- behaviour against known placements ----------------------------------------

def test_simple_fills_from_the_top_and_free_restores(backend):
    mm = backend.create(1 * G, 4 * K)
    assert (mm.size, mm.chunk_size, mm.avail, mm.clear_avail) == (G, 4 * K, G, 0)
    h, blocks = mm.alloc(0, 0, 8 * M, 4 * K, 0)
    assert [(b.offset, b.order, b.size) for b in blocks] == [(G - 8 * M, 11, 8 * M)]
    assert mm.avail == G - 8 * M
    h2, blocks2 = mm.alloc(0, 0, 8 * M, 4 * K, TOPDOWN)
    assert [(b.offset, b.size) for b in blocks2] == [(G - 16 * M, 8 * M)]
    mm.free(h)
    mm.free(h2)
    assert mm.avail == G
    assert mm.fini() == []


def test_range_takes_the_lowest_block_inside(backend):
    mm = backend.create(1 * G, 4 * K)
    _, blocks = mm.alloc(256 * M, 512 * M, 8 * M, 4 * K, RANGE)
    assert [(b.offset, b.order) for b in blocks] == [(256 * M, 11)]
    # start + size == end is an exact-range allocation.
    _, exact = mm.alloc(4 * M, 8 * M, 4 * M, 4 * K, 0)
    assert [(b.offset, b.size) for b in exact] == [(4 * M, 4 * M)]


def test_non_power_of_two_space_has_several_roots(backend):
    mm = backend.create(768 * M, 4 * K)
    _, blocks = mm.alloc(0, 0, 768 * M, 4 * K, 0)
    assert sorted((b.offset, b.size) for b in blocks) == [(0, 512 * M), (512 * M, 256 * M)]
    with pytest.raises(BuddyError) as e:
        mm.alloc(0, 0, 4 * K, 4 * K, 0)
    assert e.value.errno == "ENOSPC"


def test_errors_are_errno_names(backend):
    with pytest.raises(BuddyError) as e:
        backend.create(1 * G, 2 * K)
    assert e.value.errno == "EINVAL"
    mm = backend.create(1 * G, 4 * K)
    for args in [(0, 0, 2 * G, 4 * K, 0), (0, 0, 4 * K + 1, 4 * K, 0), (0, 0, 8 * K, 12 * K, 0)]:
        with pytest.raises(BuddyError) as e:
            mm.alloc(*args)
        assert e.value.errno == "EINVAL"
    assert mm.avail == G


def test_trim_keeps_the_start_of_the_block(backend):
    mm = backend.create(1 * G, 4 * K)
    h, (blk,) = mm.alloc(0, 0, 16 * M, 4 * K, 0)
    new = mm.trim(h, 4 * M)
    assert [(b.offset, b.size) for b in new] == [(blk.offset, 4 * M)]
    assert mm.avail == G - 4 * M
    with pytest.raises(BuddyError):
        mm.trim(h, 8 * M)  # larger than the block
    mm.free(h)
    assert mm.avail == G


def test_capabilities_come_from_the_tree(backend):
    caps = backend.capabilities
    if caps.api == "drm_buddy":
        assert not {"contiguous", "clear", "trim_disable", "reset_clear"} & caps.features
        mm = backend.create(1 * G, 4 * K)
        with pytest.raises(BuddyError):
            mm.reset_clear(True)
    else:
        assert {"contiguous", "clear", "trim_disable", "trim"} <= caps.features
        mm = backend.create(1 * G, 4 * K)
        h, blocks = mm.alloc(0, 0, 12 * M, 4 * K, CONTIGUOUS)
        # Rounded up to 16M, then trimmed: two adjacent blocks.
        assert [(b.offset, b.size) for b in blocks] == [(G - 16 * M, 8 * M),
                                                          (G - 8 * M, 4 * M)]
        mm.free(h, cleared=True)
        assert mm.clear_avail == 12 * M
    if backend.tree.version.startswith("7."):
        assert "offset_aligned" in caps.features
    if backend.tree.version.startswith("6."):
        assert "offset_aligned" not in caps.features


# -- warnings, crashes, timeouts -----------------------------------------------

def test_leak_at_fini_is_a_warning(backend):
    mm = backend.create(64 * M, 4 * K)
    mm.alloc(0, 0, 4 * M, 4 * K, 0)
    assert mm.warnings() == []
    warnings = mm.fini()
    assert warnings and all(w.startswith("WARN_ON(") for w in warnings)
    assert any("avail" in w and "fini" in w for w in warnings)
    # The worker survived and the next allocator is clean.
    mm2 = backend.create(64 * M, 4 * K)
    h, _ = mm2.alloc(0, 0, 4 * M, 4 * K, 0)
    mm2.free(h)
    assert mm2.fini() == []


def test_bug_on_is_a_crash_and_the_worker_restarts(backend):
    mm = backend.create(64 * M, 4 * K)
    # Two halves: the freed block's buddy stays allocated, so nothing merges and the
    # second free meets a block that is already free.
    h, _ = mm.alloc(0, 0, 32 * M, 4 * K, 0)
    mm.alloc(0, 0, 32 * M, 4 * K, 0)
    old = backend.worker().proc
    with pytest.raises(BackendCrash) as e:
        mm._double_free(h)
    assert e.value.kind == "bug"
    assert "BUG_ON(" in str(e.value) and "free_block" in str(e.value)
    assert old.poll() is not None
    with pytest.raises(BackendCrash):
        mm.alloc(0, 0, 4 * K, 4 * K, 0)  # the allocator died with its worker
    mm2 = backend.create(64 * M, 4 * K)
    assert backend.worker().proc is not old
    h, blocks = mm2.alloc(0, 0, 4 * M, 4 * K, 0)
    assert blocks[0].offset == 60 * M
    mm2.free(h)
    assert mm2.fini() == []


def test_a_signal_is_a_crash(backend):
    mm = backend.create(64 * M, 4 * K)
    os.kill(backend.worker().proc.pid, signal.SIGSEGV)
    with pytest.raises(BackendCrash) as e:
        mm.alloc(0, 0, 4 * K, 4 * K, 0)
    assert e.value.kind == "signal" and "SIGSEGV" in str(e.value)
    assert backend.create(64 * M, 4 * K).avail == 64 * M


def test_a_runaway_request_is_out_of_memory_on_both_sides(backend):
    # 16T + 8K in 4K pages is 2^32 + 2: fls() sees 2, the order is pinned at 1 and the
    # loop would take 2^31 blocks; the slab budget stops it within a second.
    for b in (backend, ReferenceBackend()):
        mm = b.create(32 * (1 << 40), 4 * K)
        with pytest.raises(BackendCrash) as e:
            mm.alloc(0, 0, 16 * (1 << 40) + 8 * K, 4 * K, 0)
        assert e.value.kind == "oom", (b, e.value)
        assert "slab budget" in str(e.value)
    assert backend.create(64 * M, 4 * K).avail == 64 * M


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("window", [0, 17 << 40])
def test_a_runaway_range_request_times_out_on_both_sides(name, window):
    # The same request through the RANGE walk, which passes every block taken so far on
    # each turn: the C crawls and the worker's timeout ends it, as the model predicts.
    # A window too small for the blocks ends in ENOSPC instead (the C's range walk runs
    # out of free blocks), which the model emulates.
    native = _open(name, timeout=1.0)
    try:
        for b in (native, ReferenceBackend()):
            mm = b.create(32 * (1 << 40), 4 * K)
            with pytest.raises(BackendCrash) as e:
                mm.alloc(0, window, 16 * (1 << 40) + 8 * K, 4 * K, RANGE)
            assert e.value.kind == "timeout", (b, e.value)
            small = b.create(32 * (1 << 40), 4 * K)
            with pytest.raises(BuddyError) as e2:
                small.alloc(0, 16 * M, 16 * (1 << 40) + 8 * K, 4 * K, RANGE)
            assert e2.value.errno == "ENOSPC" and small.avail == 32 * (1 << 40)
    finally:
        native.close()


def test_timeout_replaces_the_worker():
    b = _open(NAMES[0], timeout=0.5)
    try:
        old = b.worker().proc
        with pytest.raises(BackendCrash) as e:
            b._spin()
        assert e.value.kind == "timeout" and "timeout" in str(e.value)
        assert old.poll() is not None  # killed, not left spinning
        assert b.create(64 * M, 4 * K).avail == 64 * M
    finally:
        b.close()


def test_a_case_past_its_budget_is_a_timeout_and_the_worker_serves_the_next(backend, tmp_path):
    from harness.engine import run_case
    from tests.helpers import load_one
    from tests.test_options import SLOW

    case = load_one(tmp_path, SLOW)
    ps = case.combinations()[0]
    out = run_case(case, ps, backend, budget=0.05)
    assert out.status == "crash" and out.trace.crash_kind == "timeout", out.message
    assert run_case(case, ps, backend, budget=60).status == "pass"


def test_close_leaves_no_process():
    b = _open(NAMES[0])
    b.create(64 * M, 4 * K)
    proc = b.worker().proc
    b.close()
    assert proc.poll() is not None


# -- batch mode ------------------------------------------------------------------

class _OneByOne:
    """Hides run_batch so batch.run_batch takes its generic loop."""

    def __init__(self, mm):
        self._mm = mm

    def __getattr__(self, name):
        if name == "run_batch":
            raise AttributeError(name)
        return getattr(self._mm, name)


def random_ops(rng: random.Random, n: int, size: int, chunk: int, flags: int) -> list[Op]:
    ops: list[Op] = []
    allocs = 0
    for _ in range(n):
        r = rng.random()
        if r < 0.5 or allocs == 0:
            sz = chunk * rng.choice([1, 1, 2, 3, 4, 7, 16, 64, 100, 1024])
            start = rng.randrange(0, size // chunk) * chunk
            use_range = rng.random() < 0.3
            end = min(size, start + sz * rng.choice([1, 2, 8])) if use_range else 0
            bits = rng.choice([0, 0, flags]) | (RANGE if use_range else 0)
            ops.append(Op("alloc", {"start": start if use_range else 0, "end": end, "size": sz,
                                    "min_block_size": chunk * rng.choice([1, 1, 1, 2, 4]),
                                    "flags": bits}))
            allocs += 1
        elif r < 0.9:
            ops.append(Op("free", {"handle": rng.randrange(allocs),
                                   "cleared": rng.random() < 0.5}))
        else:
            ops.append(Op("counters"))
    return ops


def test_batch_is_the_same_as_one_by_one(backend):
    rng = random.Random(1234)
    extra = 0 if backend.capabilities.api == "drm_buddy" else CONTIGUOUS
    for _ in range(5):
        ops = random_ops(rng, 400, 64 * M, 4 * K, extra)
        a = backend.create(64 * M, 4 * K)
        b = backend.create(64 * M, 4 * K)
        got = batch.run_batch(a, ops)
        want = batch.run_batch(_OneByOne(b), ops)
        assert got == want
        assert any(r.errno == "ENOSPC" for r in got) or any(r.blocks for r in got)


# -- unavailable trees: one clear message ------------------------------------------

def test_plain_native_without_a_tree_says_what_to_do(monkeypatch):
    monkeypatch.delenv("BUDDY_HARNESS_KERNEL_SRC", raising=False)
    with pytest.raises(BackendUnavailable) as e:
        _open("native")
    assert "BUDDY_HARNESS_KERNEL_SRC" in str(e.value) and "--kernel-src" in str(e.value)


def test_tree_without_the_allocator(tmp_path):
    (tmp_path / "drivers").mkdir()
    with pytest.raises(BackendUnavailable) as e:
        _open(f"native@{tmp_path}")
    assert "no buddy allocator" in str(e.value)
    with pytest.raises(BackendUnavailable) as e:
        _open(f"native@{tmp_path}/missing")
    assert "does not exist" in str(e.value)


def test_failed_compile_names_the_first_error(tmp_path):
    tree = next(iter(TREES.values()))
    root = tmp_path / "linux"
    for rel in (tree.source, tree.header):
        dst = root / rel.relative_to(tree.root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rel, dst)
    (root / "tools/lib").mkdir(parents=True)
    shutil.copyfile(tree.root / "tools/lib/rbtree.c", root / "tools/lib/rbtree.c")
    (root / "tools/include").symlink_to(tree.root / "tools/include")
    src = root / tree.source.relative_to(tree.root)
    src.write_text(src.read_text() + "\nint broken(void) { return undeclared_name; }\n")
    with pytest.raises(BackendUnavailable) as e:
        _open(f"native@{root}")
    msg = str(e.value)
    assert "failed" in msg and "undeclared_name" in msg and "error" in msg


def test_versions_are_recorded_for_fetched_trees():
    fetched = {n: t for n, t in TREES.items() if n.startswith("native@")}
    if not fetched:
        pytest.skip("no fetched tree in the cache")
    for name, t in fetched.items():
        want = name.partition("@")[2]
        assert t.version.startswith(want + ".") or t.version == want
        assert t.package.startswith(t.version)
        assert Path(t.root, "buddy-harness.json").is_file()


def test_failed_download_is_one_line(monkeypatch, tmp_path, capsys):
    """An archive that cannot be reached: one line naming the step that failed, exit 1."""
    import shutil

    from harness.cli import main
    from harness.trees import kernels

    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kernels, "archive_source", lambda: ("http://127.0.0.1:9/debian", ""))
    assert main(["kernel", "fetch", "7.2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("buddy-harness kernel: ") and "failed" in err[-1], err
    assert not any("Traceback" in ln for ln in err)
    assert kernels.cached() == []  # nothing half-made is left in the cache


def test_a_version_that_is_not_one_is_refused(capsys):
    from harness.cli import main

    assert main(["kernel", "fetch", "latest"]) == 2  # refused as the command line is parsed
    assert "'latest' is not a kernel version like 7.2" in capsys.readouterr().err
