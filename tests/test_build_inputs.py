"""What a native build's key is made of, remembered across processes: each input file's digest
by the file's state, the compiler's identity by its binary's state; a changed, recent or
damaged entry is never trusted."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from harness import integrity
from harness.backends.native import build, digests

pytestmark = pytest.mark.treeless


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(digests, "_stores", {})
    return tmp_path / "cache"


def _new_process(monkeypatch):
    """What a later run knows: only what the cache holds."""
    monkeypatch.setattr(digests, "_stores", {})


def _reads(monkeypatch) -> list[str]:
    """The input files read from now on (the store itself is read too: not listed)."""
    seen: list[str] = []
    real = Path.read_bytes

    def read_bytes(self):
        if self.suffix == ".h":
            seen.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return seen


def _files(tmp_path: Path, **content: str) -> list[Path]:
    out = []
    for name, text in content.items():
        p = tmp_path / f"{name}.h"
        p.write_text(text)
        out.append(p)
    return out


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_digest_is_the_files_and_a_later_run_does_not_read_it_again(cache, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)  # every file counts as settled
    files = _files(tmp_path, a="one", b="two")
    assert digests.file_digests(files, "t") == [_sha(p) for p in files]
    want = [_sha(p) for p in files]
    _new_process(monkeypatch)
    reads = _reads(monkeypatch)
    assert digests.file_digests(files, "t") == want
    assert reads == []


def test_a_file_changed_in_place_is_read_again_even_with_its_size_and_mtime_put_back(
        cache, tmp_path, monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    (a,) = _files(tmp_path, a="one")
    before = a.stat()
    digests.file_digests([a], "t")
    a.write_text("two")  # same size, same inode
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    _new_process(monkeypatch)
    assert digests.file_digests([a], "t") == [_sha(a)]
    # and within the same process too
    a.write_text("six")
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert digests.file_digests([a], "t") == [_sha(a)]


def test_a_file_replaced_by_another_is_read_again(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    (a,) = _files(tmp_path, a="one")
    digests.file_digests([a], "t")
    other = tmp_path / "other"
    other.write_text("two")
    os.replace(other, a)
    _new_process(monkeypatch)
    assert digests.file_digests([a], "t") == [_sha(a)]


def test_a_file_changed_just_now_is_not_remembered(cache, tmp_path, monkeypatch):
    (a,) = _files(tmp_path, a="one")  # written now: a second edit could keep its state
    digests.file_digests([a], "t")
    _new_process(monkeypatch)
    reads = _reads(monkeypatch)
    digests.file_digests([a], "t")
    assert reads == ["a.h"]


def test_settled_means_unchanged_for_longer_than_a_timestamp_can_hide():
    fields = dict(st_mtime_ns=100 * 10**9, st_ctime_ns=100 * 10**9)
    recent = type("S", (), fields)()
    assert digests.settled(recent, now=100 + digests.RACY + 0.5)
    assert not digests.settled(recent, now=100 + digests.RACY - 0.5)
    fields["st_ctime_ns"] = 103 * 10**9  # a chmod or rename later counts as a change
    assert not digests.settled(type("S", (), fields)(), now=100 + digests.RACY + 0.5)


def _store_file(cache: Path) -> Path:
    (path,) = (cache / "buddy-harness/digests/files").glob("*.pickle")
    return path


@pytest.mark.parametrize("damage", ["truncated", "flipped", "unsealed", "foreign"])
def test_a_damaged_store_is_deleted_and_every_file_read_again(cache, tmp_path, monkeypatch,
                                                               damage):
    monkeypatch.setattr(digests, "RACY", -10.0)
    files = _files(tmp_path, a="one", b="two")
    digests.file_digests(files, "t")
    store = _store_file(cache)
    data = store.read_bytes()
    if damage == "truncated":
        store.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        store.write_bytes(data[:-3] + bytes([data[-3] ^ 1]) + data[-2:])
    elif damage == "unsealed":
        store.with_name(store.name + integrity.SUFFIX).unlink()
    else:  # sealed, but not a pickle this code wrote
        store.write_bytes(b"not a pickle")
        integrity.seal_file(store)
    want = [_sha(p) for p in files]
    _new_process(monkeypatch)
    reads = _reads(monkeypatch)
    assert digests.file_digests(files, "t") == want
    assert reads == ["a.h", "b.h"]  # read again, not taken from the store
    assert integrity.file_problem(_store_file(cache)) is None  # and kept again, sealed


def test_entries_of_the_wrong_shape_are_not_trusted(cache, tmp_path, monkeypatch):
    from harness.cachedir import write_sealed

    monkeypatch.setattr(digests, "RACY", -10.0)
    a, b, c = _files(tmp_path, a="one", b="two", c="three")
    digests.file_digests([a], "t")
    store = _store_file(cache)
    st = digests.state(b.stat())
    write_sealed(store, {str(a): "no state", str(b): (st,), str(c): (st, 42)})
    _new_process(monkeypatch)
    assert digests.file_digests([a, b, c], "t") == [_sha(a), _sha(b), _sha(c)]


def _fake_cc(tmp_path: Path, says: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    cc = bin_dir / "fakecc"
    cc.write_text(f"#!/bin/sh\necho run >> {tmp_path / 'runs'}\necho '{says}'\n")
    cc.chmod(cc.stat().st_mode | stat.S_IXUSR)
    return cc


def _runs(tmp_path: Path) -> int:
    p = tmp_path / "runs"
    return len(p.read_text().split()) if p.exists() else 0


def test_the_compilers_identity_is_asked_once_until_its_binary_changes(cache, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    cc = _fake_cc(tmp_path, "fakecc 1.0")
    monkeypatch.setenv("PATH", f"{cc.parent}{os.pathsep}{os.environ['PATH']}")
    assert digests.compiler_identity("fakecc", digests.version_line) == "fakecc 1.0"
    _new_process(monkeypatch)
    assert digests.compiler_identity("fakecc", digests.version_line) == "fakecc 1.0"
    assert _runs(tmp_path) == 1
    _fake_cc(tmp_path, "fakecc 2.0")  # upgraded in place
    _new_process(monkeypatch)
    assert digests.compiler_identity("fakecc", digests.version_line) == "fakecc 2.0"
    assert _runs(tmp_path) == 2


def test_a_link_moved_to_another_compiler_is_asked_again(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    one = _fake_cc(tmp_path, "one")
    two = one.with_name("fakecc2")
    os.replace(_fake_cc(tmp_path, "two"), two)
    one = _fake_cc(tmp_path, "one")
    link = tmp_path / "bin" / "cc-link"
    link.symlink_to(one)
    monkeypatch.setenv("PATH", f"{one.parent}{os.pathsep}{os.environ['PATH']}")
    assert digests.compiler_identity("cc-link", digests.version_line) == "one"
    link.unlink()
    link.symlink_to(two)
    _new_process(monkeypatch)
    assert digests.compiler_identity("cc-link", digests.version_line) == "two"


def test_a_compiler_that_cannot_say_is_not_remembered(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    cc = _fake_cc(tmp_path, "x")
    monkeypatch.setenv("PATH", f"{cc.parent}{os.pathsep}{os.environ['PATH']}")
    assert digests.compiler_identity("fakecc", lambda _cc: None) == "fakecc"
    _new_process(monkeypatch)
    assert digests.compiler_identity("fakecc", digests.version_line) == "x"
    assert digests.compiler_identity("no-such-cc-here", digests.version_line) \
        == "no-such-cc-here"


def test_a_recently_installed_compiler_is_asked_again(cache, tmp_path, monkeypatch):
    cc = _fake_cc(tmp_path, "fresh")
    monkeypatch.setenv("PATH", f"{cc.parent}{os.pathsep}{os.environ['PATH']}")
    digests.compiler_identity("fakecc", digests.version_line)
    _new_process(monkeypatch)
    digests.compiler_identity("fakecc", digests.version_line)
    assert _runs(tmp_path) == 2


def test_the_header_listing_is_what_rglob_finds(tmp_path):
    top = tmp_path / "include"
    (top / "linux/sub").mkdir(parents=True)
    (top / "a-b").mkdir()
    (top / "dir.h").mkdir()  # a directory named like a header: looked into, not listed
    for rel in ("linux/x.h", "linux/sub/y.h", "a-b/z.h", "linux/notes.txt", ".hidden.h",
                "dir.h/inner.h", "A.h", "b.h"):
        (top / rel).write_text(rel)
    outside = tmp_path / "elsewhere"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep/far.h").write_text("far")
    (top / "linked-dir").symlink_to(outside / "deep")  # not followed, as rglob does not
    (top / "link.h").symlink_to(top / "b.h")  # a link to a file is a file
    (top / "dangling.h").symlink_to(tmp_path / "missing.h")
    want = sorted(p for p in top.rglob("*.h") if p.is_file())
    assert build._files_under(top, ".h") == want
    assert build._files_under(tmp_path / "absent", ".h") == []
    every = sorted(p for p in top.rglob("*") if p.is_file())
    assert build._files_under(top, "") == every


def test_a_damaged_compilers_store_asks_the_compiler_again(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(digests, "RACY", -10.0)
    cc = _fake_cc(tmp_path, "fakecc 1.0")
    monkeypatch.setenv("PATH", f"{cc.parent}{os.pathsep}{os.environ['PATH']}")
    digests.compiler_identity("fakecc", digests.version_line)
    store = cache / "buddy-harness/digests/compilers.pickle"
    store.write_bytes(store.read_bytes().replace(b"fakecc 1.0", b"fakecc 6.6"))  # same size
    _new_process(monkeypatch)
    assert digests.compiler_identity("fakecc", digests.version_line) == "fakecc 1.0"
    assert _runs(tmp_path) == 2
