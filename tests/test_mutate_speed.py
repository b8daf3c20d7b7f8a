"""What makes mutate fast without changing a verdict: a worker left mid-replay is ended at
once, the schema build is kept in the cache, an item that ends on a dead worker is not run
for a mutant whose code it never reaches, and a hang is judged on a limit scaled to the
unmutated run's time."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness.mutation import schema_cache, schemata
from harness.mutation.mutants import generate
from harness.mutation.runner import KILLED, SURVIVED, TIMED_OUT

SPECS = [Path(__file__).resolve().parent.parent / "specs"]
U64 = "review.u64-allocation-just-above-2-pow-32-pages[]"  # ends in oom: its worker dies
KILLED_LATE = "gpu_buddy_alloc_blocks:const:2143c9d7"  # replayed windows, then one differs
HANGS = "rbtree_insert:ror:66890edc"  # loops for ever on an early item
NOT_IN_U64 = "gpu_buddy_fini:delete:1d5c25e1"  # equivalent; fini never runs in that item
IN_U64 = "split_block:delete:10ef116a"  # equivalent; split_block runs there millions of times


def _tree():
    from harness.backends.native import testing
    from harness.trees import resolve_tree

    if "native@7.2" not in testing.available_trees():
        pytest.skip("native@7.2 is not cached")
    return resolve_tree("native@7.2", log=lambda m: None)


@pytest.fixture(scope="module")
def plan():
    tree = _tree()
    src = tree.source.read_text()
    ids = {KILLED_LATE, HANGS, NOT_IN_U64, IN_U64}
    sample = [m for m in generate(src) if m.id in ids]
    assert len(sample) == len(ids)
    p = schemata.plan(tree, src, SPECS, 3.0, sample, 20, 1)
    yield p, {m.id: m for m in sample}
    p.close()


def test_a_worker_left_mid_replay_is_ended_without_waiting():
    # A replay that differs leaves the worker with queued requests whose answers nobody
    # reads: once they fill the pipe it blocks writing and never reads a quit request, so
    # closing it waited the whole timeout, once for every mutant killed after a replay.
    from harness.backends.native import build

    tree = _tree()
    backend = schemata.ReplayBackend("native@7.2", tree, build.build(tree), timeout=2.0)
    w = backend.worker()
    w.send_bytes(b"g\n" * 30000)  # fits the pipe; the answers are twice that
    time.sleep(0.2)
    t0 = time.monotonic()
    backend.discard()
    assert time.monotonic() - t0 < 0.5
    assert backend._worker is None and w.proc.returncode is not None


def test_a_mutant_killed_after_a_replay_is_judged_in_less_than_the_timeout(plan):
    p, ms = plan
    v = schemata.Judge(p).judge(ms[KILLED_LATE], 20)
    assert v.status == KILLED and v.by.startswith("extra.pairs-topdown[space=1G]")
    assert v.seconds < p.timeout, v.seconds


def test_an_item_ending_on_a_dead_worker_is_run_only_for_mutants_it_reaches(plan, monkeypatch):
    p, ms = plan
    keys = list(p.baseline)
    seg = p.transcript.items[keys.index(U64)]
    assert not seg.replayable and seg.ends_dead and seg.cpu > 0
    assert p.numbers[IN_U64] in seg.reached and p.numbers[NOT_IN_U64] not in seg.reached
    ran: list[str] = []
    real = schemata._verdict

    def verdict(case, ps, backend):
        ran.append(f"{case.id}[{ps.id}]")
        return real(case, ps, backend)

    monkeypatch.setattr(schemata, "_verdict", verdict)
    judge = schemata.Judge(p)
    for mid, runs in ((NOT_IN_U64, False), (IN_U64, True)):
        ran.clear()
        v = judge.judge(ms[mid], 0)
        assert v.status == SURVIVED and v.items_run == len(keys), (mid, v.by)
        assert (U64 in ran) is runs, mid


def test_a_replayed_window_waits_for_each_answer_on_its_own_segment_s_limit():
    # A window holding a slow item and a quick one: the quick one's answer is waited for
    # on its own limit, so a hang there is seen after its limit, not the slow one's.
    from harness.mutation.replay import replay

    class Slow:
        timeout = 0.0
        waited: list[float] = []

        def send_bytes(self, _data):
            pass

        def _readline(self, _what):
            self.waited.append(self.timeout)
            return "ok"

    segs = [schemata.Segment(b"a\n", ("ok",), cpu=1.0), schemata.Segment(b"b\n", ("ok",))]
    w = Slow()
    assert replay(w, segs, [10.0, 0.5]).outcome == "same"
    assert w.waited == [10.0, 0.5]


def test_a_hang_is_judged_on_a_limit_scaled_to_the_unmutated_run(plan):
    p, ms = plan
    judge = schemata.Judge(p)
    slowest = max(s.cpu for s in p.transcript.items)
    assert judge.floor >= 2 * slowest and judge.floor >= schemata.MIN_HANG
    quick = schemata.Segment(b"", (), cpu=0.0)
    assert judge.limit([quick]) == pytest.approx(judge.floor, abs=0.1)
    assert judge.limit([schemata.Segment(b"", (), cpu=100.0)]) == p.timeout  # the ceiling
    limit = judge.limit([quick])
    assert limit < p.timeout
    t0 = time.monotonic()
    v = judge.judge(ms[HANGS], 0)
    assert v.status == TIMED_OUT, v.by
    assert f"no answer after {limit:g} s" in v.by
    # Well under the old wait of 80% of --timeout of the worker's CPU, on a quiet machine.
    assert time.monotonic() - t0 < 10 * p.timeout


def test_the_schema_build_is_kept_and_a_damaged_one_is_built_again(tmp_path, monkeypatch):
    tree = _tree()
    src = tree.source.read_text()
    sample = generate(src)[:6]
    monkeypatch.setattr(schema_cache, "cache_dir", lambda: tmp_path / "schemata")
    logs: list[str] = []
    builds = []

    def build(mutants):
        builds.append(schemata.compile_schema(tree, src, mutants, logs.append))
        return builds[-1]

    try:
        first = build(sample)
        (entry,) = (tmp_path / "schemata").iterdir()
        again = build(sample)
        assert "from the cache" not in logs[0] and "from the cache" in logs[1]
        assert first[1:] == again[1:]
        for worker in schema_cache.WORKERS:
            assert (again[0] / worker).read_bytes() == (first[0] / worker).read_bytes()
        build(sample[:3])  # another selection of mutants is another build
        assert "from the cache" not in logs[2]
        (entry / schema_cache.WORKERS[0]).write_bytes(b"damaged")
        assert build(sample)[1:] == first[1:]
        assert "from the cache" not in logs[3]  # the damaged entry was discarded
        build(sample)
        assert "from the cache" in logs[4]
    finally:
        for b in builds:
            shutil.rmtree(b[0], ignore_errors=True)
