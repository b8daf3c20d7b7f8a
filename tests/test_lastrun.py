"""Outcomes remembered from the last run (harness/lastrun.py) are the engine's: a case whose
worker answers every recorded request as before keeps its outcome without the engine; after
an edit to the C, a reply that differs, a late one, or a change to the spec file, the harness
or the tree, the case runs through the engine."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from harness import integrity, lastrun, parallel, slips
from harness.backends.native import open_backend
from harness.engine import run_case
from harness.judge import Judge
from harness.runner import select
from harness.spec.loader import load_paths
from tests.scratch_tree import copy_tree
from tests.test_cli import ROOT

CORPUS = ROOT / "specs"


def _seen(out):
    t = out.trace
    return (out.case_id, out.params, out.status, out.message, out.output, out.file, out.line,
            t.failed_path, t.warnings, t.create_errno)


class Corpus:
    """A scratch tree's corpus run by ``run_corpus``, the engine's calls counted."""

    def __init__(self, tmp_path, items):
        self.root = copy_tree(tmp_path)
        self.name = f"native@{self.root}"
        self.items = items
        self.calls: list[str] = []
        self.backend = self.open()

    def open(self):
        return open_backend(self.name, log=lambda _: None)

    def reopen(self):
        self.backend.close()
        self.backend = self.open()

    def engine(self, case, ps, b):
        self.calls.append(parallel._key((case, ps)))
        return run_case(case, ps, b)

    def run(self, *, remember=True, jobs=2):
        self.calls.clear()
        outs = list(parallel.run_corpus(
            self.items, self.backend, Judge.none(self.name), jobs=jobs, reopen=self.open,
            engine=self.engine, remember=remember))
        # what the engine did not give is what was remembered, and nothing else
        assert {parallel._key((c, p)) for (c, p), o in zip(self.items, outs)
                if not o.remembered} == set(self.calls)
        return [_seen(o) for o in outs]


@pytest.fixture
def records(tmp_path, monkeypatch):
    where = tmp_path / "records"
    monkeypatch.setattr(lastrun, "_file", lambda name: where / "last.json")
    return where / "last.json"


@pytest.fixture(scope="module")
def items():
    return list(select(load_paths([CORPUS]).cases, None))


@pytest.fixture
def corpus(tmp_path, records, items):
    c = Corpus(tmp_path, items)
    yield c
    c.backend.close()


def test_a_remembered_corpus_gives_the_engine_s_verdicts_also_after_an_edit(corpus):
    live = corpus.run()
    assert len(corpus.calls) == len(corpus.items)
    assert corpus.run() == live
    # only what cannot be remembered (crashes) ran through the engine again
    crashed = {parallel._key((c, p)) for (c, p), s in zip(corpus.items, live) if s[2] == "crash"}
    assert crashed and set(corpus.calls) == crashed
    # a slip in the C: every case whose replies changed runs through the engine, and the
    # verdicts are those of the engine alone
    slips.apply(corpus.root, "free-forgets-clear")
    corpus.reopen()
    mixed = corpus.run()
    engine_ran = set(corpus.calls)
    assert mixed == corpus.run(remember=False)
    changed = {parallel._key(it) for it, a, b in zip(corpus.items, live, mixed) if a != b}
    assert changed and changed <= engine_ran
    assert len(engine_ran) < len(corpus.items) / 2  # most replies did not change


def test_nothing_is_remembered_once_what_the_outcome_comes_from_changed(corpus, monkeypatch,
                                                                         tmp_path):
    corpus.items = corpus.items[:60]
    live = corpus.run()
    corpus.run()
    assert len(corpus.calls) < 20  # the rest remembered
    # the harness's code
    monkeypatch.setattr(lastrun, "_code", lambda: "another harness")
    assert corpus.run() == live and len(corpus.calls) == len(corpus.items)
    monkeypatch.undo()
    corpus.run()
    assert corpus.run() == live and len(corpus.calls) < 20  # as recorded by this harness
    # the case's spec file (here: its path, the bytes being the same)
    moved = tmp_path / "specs"
    shutil.copytree(CORPUS, moved)
    again = {(c.id, p.id): (c, p) for c, p in select(load_paths([moved]).cases, None)}
    corpus.items = [again[(c.id, p.id)] for c, p in corpus.items]
    moved_live = corpus.run()
    assert len(corpus.calls) == len(corpus.items)
    assert [x[:5] for x in moved_live] == [x[:5] for x in live]  # only the file differs


def test_a_reply_that_differs_or_comes_late_is_not_the_remembered_one(corpus, records):
    corpus.items = [it for it in corpus.items
                    if it[0].id == "kernel-doc.free-block-in-any-order"][:1]
    live = corpus.run(jobs=1)
    corpus.run(jobs=1)
    assert corpus.calls == []  # remembered
    data = json.loads(records.read_text())
    (entry,) = data["cases"].values()
    entry["got"] = entry["got"].replace("\n0 ", "\n0 1", 1)  # one reply said otherwise
    entry["outcome"]["message"] = "not what the engine says"
    records.write_text(json.dumps(data))
    integrity.seal_file(records)
    assert corpus.run(jobs=1) == live and len(corpus.calls) == 1
    assert json.loads(records.read_text())["cases"] != data["cases"]  # the engine's record
    # a worker that does not answer before the deadline is ended: nothing it did is seen
    (entry,) = json.loads(records.read_text())["cases"].values()
    b = corpus.backend
    assert b.replay(entry["sent"], entry["got"], time.monotonic() - 1) is None
    assert b.worker().slots == 0  # a new worker: the ended one's allocators are gone
    assert b.replay(entry["sent"], entry["got"], time.monotonic() + 30) == ""
