"""What makes the edit loop fast keeps its answers: a parallel native run gives the serial
run's outcomes, reused objects rebuild only the edited unit, a cached corpus is the
loaded one and a changed file is loaded afresh; the bench measures and reports."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

from harness import edit_bench, expectations, integrity, parallel, runner
from harness.backends import registry
from harness.backends.base import BackendUnavailable
from harness.backends.reference import ReferenceBackend
from harness.cli import main
from harness.docs import speccheck
from harness.docs import tree as doctree
from harness.runner import select
from harness.spec import cache
from harness.spec.loader import load_paths
from harness.spec.position import SpecError
from tests.scratch_tree import cached_tree, copy_tree
from tests.test_cli import ROOT

CORPUS = ROOT / "specs"



@pytest.mark.treeless
def test_spec_cache_gives_the_loaded_corpus_and_notices_a_change(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = tmp_path / "specs"
    shutil.copytree(CORPUS, specs)
    fresh = load_paths([specs])
    first, again = cache.load_paths_cached([specs]), cache.load_paths_cached([specs])
    assert [c.id for c in first.cases] == [c.id for c in again.cases] == \
        [c.id for c in fresh.cases]
    assert again.cases == fresh.cases
    size = specs / "extra" / "size.yaml"
    size.write_text(size.read_text().replace("size-binding-is-what-was-asked", "size-renamed"))
    ids = {c.id for c in cache.load_paths_cached([specs]).cases}
    assert "extra.size-renamed" in ids and "extra.size-binding-is-what-was-asked" not in ids


@pytest.mark.treeless
def test_spec_cache_never_keeps_a_corpus_with_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    broken = ROOT / "tests" / "malformed"
    assert cache.load_paths_cached([broken]).errors
    assert not list((tmp_path / "cache").rglob("*.pickle"))


@pytest.mark.treeless
def test_a_damaged_spec_cache_entry_is_loaded_afresh_and_sealed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    specs = tmp_path / "specs"
    shutil.copytree(CORPUS / "extra", specs)
    fresh = load_paths([specs])
    cache.load_paths_cached([specs])
    [entry] = (tmp_path / "cache").rglob("*.pickle")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes: only the seal can tell
    entry.write_bytes(bytes(data))
    calls = []
    real = cache.load_paths
    monkeypatch.setattr(cache, "load_paths", lambda p: calls.append(p) or real(p))
    assert cache.load_paths_cached([specs]).cases == fresh.cases
    assert len(calls) == 1  # not unpickled: loaded from the files
    assert integrity.file_problem(entry) is None  # and kept again, sealed
    assert cache.load_paths_cached([specs]).cases == fresh.cases and len(calls) == 1
    entry.with_name(entry.name + integrity.SUFFIX).unlink()  # a record lost: the same
    assert cache.load_paths_cached([specs]).cases == fresh.cases and len(calls) == 2


def test_a_clean_quote_check_is_remembered_until_a_spec_or_the_tree_changes(tmp_path,
                                                                          monkeypatch):
    src = cached_tree()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tree = tmp_path / "cache" / "buddy-harness" / "kernels" / "7.2"
    shutil.copytree(src, tree, symlinks=True)
    # Sealed as edit() seals it: the record a fetch wrote may differ in its bytes (the key
    # holds the record), and "the tree as it was" below must be the tree of the first check.
    integrity.seal(tree.resolve())
    specs = tmp_path / "specs"
    shutil.copytree(CORPUS / "kernel-doc", specs)
    calls = []
    real = speccheck.check_cases
    monkeypatch.setattr(speccheck, "check_cases", lambda c: calls.append(1) or real(c))

    def check() -> list:
        loaded, key = cache.load_paths_keyed([specs])
        return speccheck.check_cases_cached(loaded.cases, key)

    assert check() == [] and check() == [] and len(calls) == 1
    # A quoted sentence edited in the reference tree's header: checked again, and it fails.
    header = tree / "include/linux/gpu_buddy.h"
    text = header.read_text()
    assert "single contiguous block" in text

    def edit(new_text: str) -> None:  # and sealed again, so the tree stays a sound one
        header.write_text(new_text)
        integrity.seal(tree.resolve())
        doctree._load.cache_clear()  # the docs a process extracted once

    edit(text.replace("single contiguous block", "single block"))
    assert check() and len(calls) == 2
    assert check() and len(calls) == 3  # errors are never remembered
    edit(text)
    assert check() == [] and len(calls) == 3  # the tree as it was: its clean verdict
    case = specs / "free.yaml"
    case.write_text(case.read_text() + "\n")
    assert check() == [] and len(calls) == 4  # a spec file changed
    for clean in (tmp_path / "cache").rglob("*.quotes"):
        clean.write_bytes(b"x")  # damaged: not believed
    assert check() == [] and len(calls) == 5


@pytest.mark.treeless
def test_backends_open_beside_the_loading_and_say_so_after_it():
    said: list[str] = []
    go = threading.Event()
    closed: list[str] = []

    class Opened:
        def __init__(self, name: str) -> None:
            self.name = name

        def close(self) -> None:
            closed.append(self.name)

    def opener(ref, options):
        options.log(f"built {ref}")
        go.wait(5)
        if ref == "bad":
            raise BackendUnavailable("bad: no such tree")
        return Opened(ref)

    with registry.registered(dict.fromkeys(["a", "b", "bad", "c"], opener)):
        opening = runner.Opening(["a", "b"], kernel_src=None, sanitize=False, timeout=1,
                                 log=said.append)
        said.append("loaded")  # what the caller says meanwhile comes first
        go.set()
        assert list(opening.result().opened) == ["a", "b"]
        assert said == ["loaded", "built a", "built b"]
        opening = runner.Opening(["bad"], kernel_src=None, sanitize=False, timeout=1,
                                 log=said.append)
        with pytest.raises(BackendUnavailable, match="no such tree"):
            opening.result()  # raised where the caller takes the backends
        opening = runner.Opening(["c"], kernel_src=None, sanitize=False, timeout=1,
                                 log=said.append)
        opening.abandon()  # the loading failed: what was opened is closed, unsaid
        assert closed == ["c"] and "built c" not in said


@pytest.mark.treeless
def test_expectation_files_are_kept_by_their_bytes_and_say_their_first_mistake(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "specs"
    shutil.copytree(CORPUS / "expectations", root / "expectations")
    fresh = expectations.load([root], "native@7.2")
    parsed = []
    real = expectations._parse
    monkeypatch.setattr(expectations, "_parse", lambda *a: parsed.append(1) or real(*a))
    again = expectations.load([root], "native@7.2")
    assert (again.entries, again.where) == (fresh.entries, fresh.where) and parsed == []
    [kept] = (tmp_path / "cache").rglob("*.expect")
    kept.write_bytes(kept.read_bytes()[:-5])  # damaged: read from the file again
    assert expectations.load([root], "native@7.2").entries == fresh.entries and parsed == [1]
    path = root / "expectations" / "native@7.2.yaml"
    path.write_text(path.read_text() + "extra.new-entry: a reason\n")
    assert expectations.load([root], "native@7.2").entries["extra.new-entry"] == "a reason"
    # a duplicate before a bad entry: the duplicate is said, as the file reads; never kept
    path.write_text("a.b: one\nc.d: two\na.b: three\ne.f: ''\n")
    for _ in range(2):
        with pytest.raises(SpecError, match="'a.b' is listed twice .*:1:1"):
            expectations.load([root], "native@7.2")
    path.write_text("a.b: one\ne.f: ''\na.b: three\n")
    with pytest.raises(SpecError, match="'e.f' needs a one-line reason"):
        expectations.load([root], "native@7.2")


@pytest.mark.treeless
def test_parallel_order_is_the_corpus_order():
    todo = list(select(load_paths([CORPUS]).cases, "contiguous"))
    seen = []

    def run(case, ps, backend):
        seen.append(case.id)
        return (case.id, ps.id)

    got = list(parallel.run_in_order(todo, [ReferenceBackend(), ReferenceBackend()], run))
    assert got == [(c.id, ps.id) for c, ps in todo] and len(seen) == len(todo)
    # Ranked (the slowest of the last run first), the output order is still the corpus's.
    seen.clear()
    last = todo[-1][0].id
    got = list(parallel.run_in_order(todo, [ReferenceBackend(), ReferenceBackend()], run,
                                     lambda it: 1.0 if it[0].id == last else 0.0))
    assert got == [(c.id, ps.id) for c, ps in todo] and last in seen[:2]


@pytest.mark.treeless
def test_timings_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parallel.load_timings("native@/x") == {}
    parallel.save_timings("native@/x", {"a[]": 0.5})
    assert parallel.load_timings("native@/x") == {"a[]": 0.5}
    assert parallel.load_timings("native@/y") == {}


def test_parallel_native_run_gives_the_serial_outcomes(tmp_path):
    cached_tree()
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}.json"
        assert main(["run", "--specs", str(CORPUS), "--backend", "native@7.2", "-q",
                     "--jobs", jobs, "--json", str(out)]) == 0
        outs[jobs] = [(r["case"], r["params"], r["outcome"], r["message"])
                      for r in json.loads(out.read_text())["results"]]
    assert outs["1"] == outs["2"]


def test_an_edit_recompiles_only_the_edited_unit(tmp_path, monkeypatch):
    from harness.backends.native import build as native_build
    from harness.trees.tree import inspect

    tree = copy_tree(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled: list[str] = []
    real = native_build.subprocess.Popen

    def popen(cmd, *a, **kw):
        if "-c" in cmd:  # a compile, not a link or `gcc --version`
            compiled.append(Path(cmd[cmd.index("-c") + 1]).name)
        return real(cmd, *a, **kw)

    monkeypatch.setattr(native_build.subprocess, "Popen", popen)
    native_build.build(inspect(tree))
    assert sorted(compiled) == ["buddy.c", "rbtree.c", "worker_main.c", "wrapper.c"]
    compiled.clear()
    with (tree / "drivers/gpu/buddy.c").open("a") as f:
        f.write("/* an edit */\n")
    b = native_build.build(inspect(tree))
    assert compiled == ["buddy.c"] and not b.cached and b.worker.is_file()


def test_bench_reports_edit_to_verdict(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    assert main(["bench", "--edit-to-verdict", "--backend", f"native@{tree}", "--runs", "2",
                 "--specs", str(CORPUS)]) == 0
    out = capsys.readouterr().out
    assert "edit-to-verdict on native@" in out and "median" in out
    # KUnit's figure is either measured in the run or labelled as recorded, with its date
    assert "5.8 s as recorded on 2026-12-02" in out and "not measured here" in out
    assert "run 2:" in out and "exit 0" in out
    # a comment changes no reply: the outcomes are remembered; a slip in the C changes some,
    # and those cases run through the engine (the slip's failures are in the runs' summaries)
    assert re.search(r"each a comment: \d{3} outcomes remembered", out)
    assert "after 2 edits that each make one slip" in out and "changed 2:" in out
    assert re.search(r"changed 1: .*exit 1; \d+ outcomes remembered; \d+ passed, [1-9]", out)
    # Where this Python keeps no bytecode, the runs keep their own, and the bench says so.
    assert ("writes no bytecode" in out) == sys.dont_write_bytecode


@pytest.mark.treeless
def test_bench_runs_keep_bytecode_only_where_this_python_writes_none(tmp_path, monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    env = edit_bench._bytecode_env(tmp_path, ["--specs", str(CORPUS)], said.append)
    assert "PYTHONPYCACHEPREFIX" not in env or env["PYTHONPYCACHEPREFIX"] == \
        os.environ.get("PYTHONPYCACHEPREFIX")
    assert said == []
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = edit_bench._bytecode_env(tmp_path, ["--specs", str(CORPUS)], said.append)
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert list((tmp_path / "pycache").rglob("engine*/run*.pyc"))  # written by the probe
    assert len(said) == 1 and "s with bytecode" in said[0]


FAKE_KUNIT = """\
import sys
from pathlib import Path
# A stand-in for kunit.py: records each call with the buddy.c it saw.
src = Path("drivers/gpu/buddy.c").read_text()
with open("calls.txt", "a") as f:
    f.write(str(src.count("edit-to-verdict")) + " " + " ".join(sys.argv[1:2]) + "\\n")
"""


def test_bench_times_kunit_py_after_the_same_edits_and_restores_the_tree(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    full = tmp_path / "full"
    shutil.copytree(tree, full, symlinks=True)
    (full / "tools/testing/kunit").mkdir(parents=True, exist_ok=True)
    (full / "tools/testing/kunit/kunit.py").write_text(FAKE_KUNIT)
    before = (full / "drivers/gpu/buddy.c").read_text()
    assert main(["bench", "--edit-to-verdict", "--backend", f"native@{tree}", "--runs", "2",
                 "--specs", str(CORPUS), "--kunit-uml", str(full)]) == 0
    out = capsys.readouterr().out
    assert "kunit.py on UML after the same edits (measured in this run" in out
    assert "kunit.py 2:" in out and "as recorded" not in out
    # a warm-up, then one call after each edit, each seeing one more edit
    assert (full / "calls.txt").read_text().split("\n")[:3] == ["0 run", "1 run", "2 run"]
    assert (full / "drivers/gpu/buddy.c").read_text() == before


@pytest.mark.treeless
def test_bench_families_are_pluggable():
    assert {"native", "rust"} <= set(edit_bench.TARGETS)
    assert edit_bench.TARGETS["rust"].source(Path("/src/linux")) == \
        Path("/src/linux/rust/kernel/gpu/buddy.rs")
    with pytest.raises(ValueError, match="not mini"):
        edit_bench.measure("mini@/nowhere", kernel_src=None, specs=[], runs=1, jobs=None,
                           log=print)
