"""Requests sent ahead (harness/backends/native/speculation.py) only save time: a case run with
the last run's requests gives the outcome it gives without them, a prediction that does not
hold makes the case run again without one, and stored predictions are read only as they were
sealed."""

from __future__ import annotations

import json

import pytest

from harness import integrity, lastrun, parallel
from harness.backends.native import open_backend
from harness.backends.native.speculation import MISPREDICTED
from harness.engine import run_case
from harness.judge import Judge
from harness.runner import select
from harness.spec.loader import load_paths
from tests.scratch_tree import cached_tree
from tests.test_cli import ROOT

CORPUS = ROOT / "specs"
# A passing case, a case that fails (an expectation of 7.2), and one whose C crashes (the
# roll-back use after free under an injected failure) at its last request.
CASES = {"kernel-doc.free-block-in-any-order": "chunk_shift=13",
         "kernel-doc.contiguous-single-block": "sz=12M",
         "extra.fail-alloc-simple-split-rolls-back": "n=18"}


@pytest.fixture(scope="module")
def native():
    cached_tree()
    b = open_backend("native@7.2", log=lambda _: None)
    yield b
    b.close()


def _items():
    cases = load_paths([CORPUS]).cases
    return [(c, ps) for c, ps in select(cases, None) if CASES.get(c.id) == ps.id]


def _seen(out):
    return (out.status, out.message, out.output, [
        (s.path, s.ok, s.errno, s.blocks, s.avail, s.clear_avail) for s in out.trace.steps])


def _case(native, case, ps, predicted):
    native.begin_case(predicted)
    try:
        out = run_case(case, ps, native)
    finally:
        rec = native.end_case()
    return out, rec.sent, rec.held


def test_a_case_sent_ahead_gives_its_outcome(native):
    items = _items()
    assert len(items) == len(CASES)
    for case, ps in items:
        live, log, held = _case(native, case, ps, None)
        assert held and log and log[0].startswith("i ")
        ahead, log2, held2 = _case(native, case, ps, log)
        assert held2, case.id  # every line sent ahead was asked for
        assert _seen(ahead) == _seen(live) and log2 == log
    # the crashing case's message names the request it died on, as one at a time does
    crash = next(o for o in (_case(native, c, p, None)[0] for c, p in items)
                 if o.status == "crash")
    assert "on 'alloc'" in crash.message


def test_a_prediction_that_does_not_hold_is_not_the_outcome(native):
    (case, ps), = [it for it in _items() if it[0].id == "kernel-doc.free-block-in-any-order"]
    live, log, _ = _case(native, case, ps, None)
    wrong = list(log)
    i = next(k for k, line in enumerate(wrong) if line.startswith("a ") and k > 1)
    f = wrong[i].split()
    f[4] = str(int(f[4]) * 2)  # last run asked for another size
    wrong[i] = " ".join(f)
    out, _, held = _case(native, case, ps, wrong)
    assert not held and out.status == "crash" and MISPREDICTED in out.message
    # one line too many sent ahead: the worker ran what the case never asked for
    out, _, held = _case(native, case, ps, log + [log[-1]])
    assert not held
    # a first line that is not the case's: dropped before anything is sent, the case live
    out, _, held = _case(native, case, ps, ["i 4096 4096", *log[1:]])
    assert held and _seen(out) == _seen(live)


def test_the_corpus_runner_runs_a_mispredicted_case_again(native, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    items = _items()

    calls: list[str] = []

    def run(case, ps, b):
        calls.append(case.id)
        return run_case(case, ps, b)

    def corpus():
        return [_seen(o) for o in parallel.run_corpus(items, native, Judge.none(native.name),
                                                      jobs=1, reopen=None, engine=run)]

    live = corpus()
    stored = lastrun._file(native.name)
    data = json.loads(stored.read_text())
    assert set(data["cases"]) == {parallel._key(it) for it in items}
    calls.clear()
    assert corpus() == live and len(calls) == len(items)  # each case once, its prediction held
    for entry in data["cases"].values():  # every prediction stale: each case runs twice
        entry["sent"].append("c @0")
    stored.write_text(json.dumps(data))
    integrity.seal_file(stored)
    calls.clear()
    assert corpus() == live
    assert len(calls) == 2 * len(items)
    # and the live runs' requests replace the stale ones
    assert all(v["sent"][-1] != "c @0" for v in json.loads(stored.read_text())["cases"].values())


def test_stored_predictions_are_read_only_as_sealed(tmp_path, monkeypatch, native):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = lastrun._file(native.name)
    p = lastrun.LastRun.load(native)
    p.seen["y[]"] = {"sent": ["i 4096 4096", "c @0"]}
    p.save()
    assert lastrun.LastRun.load(native).past == {"y[]": {"sent": ["i 4096 4096", "c @0"]}}
    path.write_text(path.read_text().replace("c @0", "S\\nc"))  # altered after sealing
    assert lastrun.LastRun.load(native).past == {}
    integrity.seal_file(path)
    path.with_name(path.name + integrity.SUFFIX).unlink()  # or never sealed
    assert lastrun.LastRun.load(native).past == {}
