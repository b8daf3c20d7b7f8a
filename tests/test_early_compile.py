"""An edited allocator starts compiling before its build's key is worked out, and the build
it ends up in is the one it would have been: the same command, the same error, nothing
left behind when the key names a build that is already there."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.backends.native import build, digests, early
from harness.trees.tree import inspect
from tests.scratch_tree import copy_tree


@pytest.fixture
def tree(tmp_path, monkeypatch):
    copied = copy_tree(tmp_path)  # from the cached trees, before the cache is a new one
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(digests, "_stores", {})
    monkeypatch.setattr(early, "_done", set())
    return copied


def _watch(monkeypatch) -> list[tuple[str, object]]:
    """Compiles started (by source name, with their process) and key work, in order."""
    seen: list[tuple[str, object]] = []
    real_popen, real_digests = subprocess.Popen, digests.file_digests

    def popen(cmd, *a, **kw):
        p = real_popen(cmd, *a, **kw)
        if "-c" in cmd:
            seen.append((Path(cmd[cmd.index("-c") + 1]).name, p))
        return p

    def file_digests(paths, store):
        seen.append(("digests", len(paths)))
        return real_digests(paths, store)

    monkeypatch.setattr(build.subprocess, "Popen", popen)
    monkeypatch.setattr(digests, "file_digests", file_digests)
    return seen


def _edit(tree: Path, text: str = "/* an edit */\n") -> None:
    with (tree / "drivers/gpu/buddy.c").open("a") as f:
        f.write(text)


def _scratch(cache: Path) -> list[str]:
    return [p.name for p in (cache / "buddy-harness/build").glob(".build-*")]


def test_an_edited_allocator_compiles_before_the_key_and_its_object_is_used(tree, tmp_path,
                                                                         monkeypatch):
    build.build(inspect(tree))
    _edit(tree)
    seen = _watch(monkeypatch)
    b = build.build(inspect(tree))
    assert [s for s, _ in seen][:2] == ["buddy.c", "digests"]  # gcc first, then the key
    assert [s for s, _ in seen if s != "digests"] == ["buddy.c"]  # compiled once, adopted
    assert not b.cached and b.worker.is_file() and b.library.is_file()
    assert not (b.dir / early.OBJ).exists() and _scratch(tmp_path / "cache") == []


def test_the_same_tree_again_starts_nothing(tree, monkeypatch):
    build.build(inspect(tree))
    seen = _watch(monkeypatch)
    assert build.build(inspect(tree)).cached
    assert [s for s, _ in seen if s != "digests"] == []


def test_a_copy_of_a_built_tree_ends_its_early_compile_and_keeps_nothing_of_it(tree, tmp_path,
                                                                           monkeypatch):
    first = build.build(inspect(tree))
    copy = tmp_path / "copy"
    os.rename(tree, copy)  # the same files, but their states are new to the cache's digests
    tree.mkdir()
    for p in sorted(copy.rglob("*")):  # files rewritten: new inodes, mtimes and ctimes
        dest = tree / p.relative_to(copy)
        if p.is_dir() and not p.is_symlink():
            dest.mkdir(exist_ok=True)
        elif p.is_symlink():
            dest.symlink_to(os.readlink(p))
        else:
            dest.write_bytes(p.read_bytes())
    seen = _watch(monkeypatch)
    again = build.build(inspect(tree))
    started = [p for s, p in seen if s == "buddy.c"]
    assert len(started) == 1 and started[0].returncode is not None  # started, then ended
    assert again.cached and again.dir == first.dir
    assert _scratch(tmp_path / "cache") == []


def _failure(tree: Path, *, started: bool) -> str:
    with pytest.MonkeyPatch.context() as m:
        if not started:
            m.setattr(early, "edited", lambda _tree, _seen: False)
        with pytest.raises(build.BuildError) as e:
            build.build(inspect(tree))
    return str(e.value)


def test_an_edit_that_does_not_compile_says_what_it_said_before(tree, tmp_path, monkeypatch):
    _edit(tree, "int broken(void) { return }\n")
    seen = _watch(monkeypatch)
    with_early = _failure(tree, started=True)
    assert [s for s, _ in seen][:2] == ["buddy.c", "digests"]
    without = _failure(tree, started=False)
    assert with_early == without
    assert "drivers/gpu/buddy.c failed:" in with_early and "error" in with_early
    assert _scratch(tmp_path / "cache") == []


def test_a_coverage_build_compiles_nothing_early(tree, monkeypatch):
    seen = _watch(monkeypatch)
    build.build(inspect(tree), coverage=True)
    assert [s for s, _ in seen][0] == "digests"


def test_ending_a_running_compile_stops_it_and_removes_its_directory(tmp_path):
    d = tmp_path / "scratch"
    d.mkdir()
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    early.end(early.Started(proc, d, [], time.monotonic(), time.time_ns()))
    assert proc.returncode is not None and time.monotonic() - t0 < 5
    assert not d.exists()


def _saving_during(monkeypatch, tree: Path, times: int) -> list[str]:
    """The allocator's source saved again just after each of its first ``times`` compiles
    started, as an editor saving twice in a row."""
    compiled: list[str] = []
    real = subprocess.Popen

    def popen(cmd, *a, **kw):
        p = real(cmd, *a, **kw)
        if "-c" in cmd and cmd[cmd.index("-c") + 1].endswith("drivers/gpu/buddy.c"):
            compiled.append("buddy.c")
            if len(compiled) <= times:
                time.sleep(0.02)  # past the kernel's timestamp tick
                _edit(tree, f"/* saved again {len(compiled)} */\n")
        return p

    monkeypatch.setattr(build.subprocess, "Popen", popen)
    return compiled


def _objects(cache: Path) -> set[str]:
    return {p.name for p in (cache / "buddy-harness/build/objects").glob("*.o")}


def test_a_source_saved_during_its_build_builds_again_and_keeps_nothing_of_the_first(
        tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    build.build(inspect(tree))
    before = _objects(cache)
    _edit(tree)
    with pytest.MonkeyPatch.context() as m:
        compiled = _saving_during(m, tree, 1)
        b = build.build(inspect(tree))
    assert compiled == ["buddy.c", "buddy.c"] and not b.cached
    assert len(_objects(cache) - before) == 1  # the second compile's object only
    assert build.build(inspect(tree)).dir == b.dir  # its key is the source as it is now
    assert _scratch(cache) == []


def test_a_source_that_keeps_changing_is_said_after_three_tries(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    build.build(inspect(tree))
    before = _objects(cache)
    _edit(tree)
    compiled = _saving_during(monkeypatch, tree, 99)
    with pytest.raises(build.BuildError, match=r"drivers/gpu/buddy.c changed while the "
                                               r"allocator was built, 3 times over"):
        build.build(inspect(tree))
    assert len(compiled) == build.ATTEMPTS
    assert _objects(cache) == before and _scratch(cache) == []
