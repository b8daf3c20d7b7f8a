"""Hostile processes and caches: what the C prints, a damaged build cache, signals, killed
runs and concurrent fetches.

- Output of the C on stdout or stderr is the case's output, never a reply of the worker
  protocol (native and Rust workers).
- A damaged cached artifact (worker, object, Rust stage, tree record) is rebuilt or named,
  never reported as a crash of the allocator.
- SIGINT and SIGTERM end every child process group, write what has finished (JSON
  included) and exit 130/143; a process the C forks does not outlive the run.
- Fetches are locked and published by a rename; leftovers of killed runs are swept.

Tests that need a kernel tree skip without one, as the native tests do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.backends.native.testing import why_unavailable
from harness.cli import main
from tests.scratch_tree import copy_tree

ROOT = Path(__file__).resolve().parent.parent
NATIVE = pytest.mark.skipif(why_unavailable() is not None, reason=why_unavailable() or "")
RUST = pytest.mark.skipif(shutil.which("rustc") is None or shutil.which("bindgen") is None,
                          reason="rustc and bindgen are needed for the Rust backend")

INIT = "int gpu_buddy_init(struct gpu_buddy *mm, u64 size, u64 chunk_size)\n{\n"
CHATTY = (INIT + '\tprintf("init says %llu", (unsigned long long)size);\n'
          '\tfprintf(stderr, " and on stderr\\n");\n')


def _chatty_tree(tmp_path: Path) -> Path:
    """A tree whose gpu_buddy_init prints on stdout (no newline, buffered) and stderr."""
    tree = copy_tree(tmp_path)
    c = tree / "drivers/gpu/buddy.c"
    text = c.read_text()
    assert text.count(INIT) == 1
    c.write_text(text.replace(INIT, CHATTY))
    return tree


def _two_cases(tmp_path: Path, layer: str) -> Path:
    d = tmp_path / "specs"
    d.mkdir()
    for i, size in enumerate(("1M", "2M")):
        (d / f"c{i}.yaml").write_text(f"""\
id: chatty.c{i}
title: an allocator whose C prints
source: {{kind: extra, ref: tests/test_hostile_proc.py}}
layer: {layer}
buddy: {{size: {size}, chunk_size: 4K}}
steps:
  - alloc: {{as: a, size: 4K}}
  - free: a
  - check: {{avail: {size}}}
""")
    return d


def _run_json(tmp_path: Path, specs: Path, backend: str) -> dict:
    out = tmp_path / "r.json"
    code = main(["run", "--specs", str(specs), "--backend", backend, "--expect-as", "none",
                 "-k", "chatty.", "-j", "1", "--json", str(out)])
    data = json.loads(out.read_text())
    assert code == 0, data
    return data


# -- 6: the worker protocol has descriptors of its own --------------------------------------

@NATIVE
def test_printf_in_the_c_is_the_case_s_output_not_a_reply(tmp_path):
    tree = _chatty_tree(tmp_path)
    data = _run_json(tmp_path, _two_cases(tmp_path, "core"), f"native@{tree}")
    got = {r["case"]: (r["outcome"], r.get("output", "")) for r in data["results"]}
    assert got == {"chatty.c0": ("pass", "init says 1048576 and on stderr\n"),
                   "chatty.c1": ("pass", "init says 2097152 and on stderr\n")}


@NATIVE
@RUST
def test_printf_in_the_c_under_the_rust_binding_is_the_case_s_output(tmp_path):
    tree = _chatty_tree(tmp_path)
    data = _run_json(tmp_path, _two_cases(tmp_path, "binding"), f"rust@{tree}")
    cases = [r for r in data["results"] if r["case"].startswith("chatty.")]
    assert [(r["case"], r["outcome"]) for r in cases] == [("chatty.c0", "pass"),
                                                          ("chatty.c1", "pass")]
    assert "init says 1048576" in cases[0]["output"]
    assert "init says 2097152" in cases[1]["output"]
    assert "2097152" not in cases[0]["output"]



# -- 8: signals end every child process group and write what finished ---------------------

TAG = "BUDDY_HARNESS_PROC_TAG"
FORKS = INIT + ('\t{ static int forked; if (!forked++ && fork() == 0) for (;;) pause(); }\n')


def _tagged(tag: str) -> dict[int, str]:
    """pid -> command line of every live process carrying ``tag`` in its environment."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if f"{TAG}={tag}".encode() not in (d / "environ").read_bytes().split(b"\0"):
                continue
            state = (d / "stat").read_text().rpartition(")")[2].split()[0]
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state != "Z":
            out[int(d.name)] = cmd
    return out


def _left(tag: str, grace: float = 3.0) -> dict[int, str]:
    """The tagged processes still alive after ``grace`` seconds (reaping takes a moment)."""
    deadline = time.monotonic() + grace
    while (alive := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _start(args: list[str], tag: str, env: dict[str, str] | None = None,
           **kw) -> subprocess.Popen:
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args], cwd=ROOT,
        env=dict(os.environ, **(env or {}), **{TAG: tag}), text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def _reap(proc: subprocess.Popen, tag: str) -> None:
    """Leave nothing behind, whatever the test found."""
    for pid in _tagged(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        pass


def _catches_sigterm(pid: int) -> bool:
    """The process has a handler for SIGTERM (the harness's, once a verb starts)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")),
               16)
    return bool(mask & 1 << (signal.SIGTERM - 1))


def _native_name() -> str:
    from harness.backends.native.testing import available_trees

    trees = available_trees()
    return "native@7.2" if "native@7.2" in trees else sorted(trees)[0]


def _wait_for(cond, what: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.05)


@NATIVE
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_run_writes_the_json_of_what_finished_and_ends_every_worker(tmp_path, sig):
    from tests.test_interrupt import CASE, SPEC

    (tmp_path / "slow.yaml").write_text(SPEC)
    out = tmp_path / "r.json"
    tag = uuid.uuid4().hex
    name = _native_name()
    main(["run", "--backend", name, "-k", "no-such-case"])  # the build, outside the timing
    proc = _start(["run", "--backend", name, "--specs", str(tmp_path), "--json", str(out)],
                  tag, bufsize=1)
    try:
        assert proc.stdout is not None
        rows = []
        for line in proc.stdout:  # a case has finished
            if line.startswith(CASE):
                rows.append(line)
                break
        assert rows, proc.communicate()
        assert any("buddy-worker" in c for c in _tagged(tag).values())
        os.kill(proc.pid, sig)  # the harness alone, not its group: it must end the workers
        t0 = time.monotonic()
        stdout, stderr = proc.communicate(timeout=20)
        took = time.monotonic() - t0
        assert proc.returncode == 128 + sig, stdout + stderr
        assert took < 5
        assert "Traceback" not in stdout + stderr
        done = int(re.search(r"^interrupted: (\d+) of 100 finished", stderr, re.M)[1])
        data = json.loads(out.read_text())
        assert data["interrupted"] == signal.Signals(sig).name
        assert len(data["results"]) == data["summary"]["total"] == done >= 1
        assert {r["outcome"] for r in data["results"]} == {"pass"}
        assert _left(tag) == {}, "a process outlived the signalled run"
    finally:
        _reap(proc, tag)


@NATIVE
def test_sigterm_to_fuzz_ends_the_pool_and_its_workers(tmp_path):
    tag = uuid.uuid4().hex
    name = _native_name()
    main(["run", "--backend", name, "-k", "no-such-case"])  # the build, outside the timing
    proc = _start(["fuzz", "--backend", "reference", "--backend", name, "--seconds", "60",
                   "--jobs", "2", "--seed", "1"], tag)
    try:
        _wait_for(lambda: sum("buddy-worker" in c for c in _tagged(tag).values()) >= 2,
                  "worker in each pool process", proc)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 143, stdout + stderr
        assert "Traceback" not in stdout + stderr
        assert _left(tag) == {}, "a pool process or worker outlived the run"
    finally:
        _reap(proc, tag)


@NATIVE
def test_a_process_the_c_forks_does_not_outlive_the_run(tmp_path):
    tree = copy_tree(tmp_path)
    c = tree / "drivers/gpu/buddy.c"
    c.write_text("#include <unistd.h>\n" + c.read_text().replace(INIT, FORKS))
    tag = uuid.uuid4().hex
    log = tmp_path / "log"
    with log.open("w") as f:  # not a pipe: the C's child would hold it open
        proc = _start(["run", "--specs", str(_two_cases(tmp_path, "core")), "--backend",
                       f"native@{tree}", "--expect-as", "none", "-k", "chatty."], tag,
                      stdout=f, stderr=f)
    try:
        assert proc.wait(timeout=120) == 0, log.read_text()
        assert _left(tag) == {}, "the C's child outlived the run"
    finally:
        _reap(proc, tag)


# -- 7: a damaged cached artifact is rebuilt, never blamed on the allocator -----------------

def _private_cache(tmp_path: Path, monkeypatch, *parts: str) -> Path:
    """A cache of its own for the test (the real one's trees linked, ``parts`` copied)."""
    from harness.trees import kernels

    real = kernels.cache_root()
    root = tmp_path / "cache" / "buddy-harness"
    root.mkdir(parents=True)
    (root / "kernels").symlink_to(real / "kernels")
    for part in parts:
        # Not the scratch directories and locks (dot names) of builds under way in another
        # test process: they vanish mid-copy.
        shutil.copytree(real / part, root / part, symlinks=True,
                        ignore=shutil.ignore_patterns(".*"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root.parent))
    return root


def _tree():
    from harness.backends.native.testing import available_trees

    return available_trees()[_native_name()]


@NATIVE
@pytest.mark.parametrize("damage", ["truncated", "not executable"])
def test_a_damaged_cached_worker_is_rebuilt_not_blamed_on_the_allocator(tmp_path, monkeypatch,
                                                                        damage):
    from harness import integrity
    from harness.backends.native.build import build

    _private_cache(tmp_path, monkeypatch)
    first = build(_tree())
    w = first.worker
    if damage == "truncated":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    else:
        w.chmod(0o644)
    assert integrity.problem(first.dir)
    _run_json(tmp_path, _two_cases(tmp_path, "core"), _native_name())  # every case passes
    again = build(_tree())
    assert again.cached and integrity.problem(again.dir) is None


@NATIVE
def test_a_damaged_cached_kunit_runner_is_rebuilt(tmp_path, monkeypatch):
    from harness import integrity
    from harness.backends.native.build import build
    from harness.kunit import build as kunit_build
    from harness.kunit import source

    _private_cache(tmp_path, monkeypatch)
    kf = source.find(_tree())
    if kf is None:
        pytest.skip("this tree has no KUnit file for the allocator")
    native = build(_tree())
    first = kunit_build.build(kf, native)
    assert integrity.problem(first.path.parent) is None  # sealed when made
    first.path.write_bytes(first.path.read_bytes()[:4096])
    again = kunit_build.build(kf, native)
    assert not again.cached and integrity.problem(again.path.parent) is None


@NATIVE
def test_a_worker_damaged_after_its_backend_opened_is_rebuilt(tmp_path, monkeypatch):
    from harness.backends.native import open_backend

    _private_cache(tmp_path, monkeypatch)
    b = open_backend(_native_name(), log=lambda _m: None)
    try:
        b.create(1 << 20, 4096)  # a worker runs
        b.close()
        w = b.build.worker
        w.write_bytes(w.read_bytes()[:4096])
        assert b.create(1 << 20, 4096).avail == 1 << 20  # a new worker, from a new build
    finally:
        b.close()


@NATIVE
def test_truncated_cached_objects_are_compiled_again(tmp_path, monkeypatch):
    from harness.backends.native.build import build
    from harness.backends.native.objcache import objects_dir

    _private_cache(tmp_path, monkeypatch)
    first = build(_tree())
    objs = list(objects_dir().glob("*.o"))
    assert len(objs) == 4
    for o in objs:
        o.write_bytes(o.read_bytes()[:16])
    shutil.rmtree(first.dir)  # as a new build key would: the objects are reused
    again = build(_tree())
    assert not again.cached
    _run_json(tmp_path, _two_cases(tmp_path, "core"), _native_name())
    assert all(o.stat().st_size > 16 for o in objects_dir().glob("*.o"))


def _sealed_tree_cache(tmp_path: Path, monkeypatch) -> Path:
    """A cache whose kernels/7.2 is a copy of the cached tree, sealed as a fetch seals it."""
    from harness import integrity

    src = copy_tree(tmp_path)
    kdir = tmp_path / "cache" / "buddy-harness" / "kernels"
    kdir.mkdir(parents=True)
    tree = kdir / "7.2"
    src.rename(tree)
    integrity.seal(tree)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tree


@NATIVE
@pytest.mark.parametrize("what", ["drivers/gpu/buddy.c", "buddy-harness.json"])
def test_a_damaged_cached_tree_is_fetched_again_not_built(tmp_path, monkeypatch, what):
    from harness.trees import ensure_version, kernels

    tree = _sealed_tree_cache(tmp_path, monkeypatch)
    assert kernels.locate("7.2") == tree
    f = tree / what
    f.write_text(f.read_text()[:-40])  # cut short (the record stays valid JSON at first)
    assert kernels.locate("7.2") is None
    assert f"({what}: " in kernels.damage(tree)
    fetched, logged = [], []

    def fake_fetch(version, log, **_kw):
        fetched.append(version)
        return tree

    monkeypatch.setattr(kernels, "fetch", fake_fetch)
    ensure_version("7.2", logged.append)
    assert fetched == ["7.2"]
    assert logged and "the cached tree is damaged" in logged[0], logged


BUILDER = """
import sys, time
from pathlib import Path
from harness import integrity

out, log = Path(sys.argv[1]), Path(sys.argv[2])
with integrity.one_builder(out) as ready:
    if not ready:
        tmp = out.with_name("tmp-" + sys.argv[3])
        tmp.mkdir()
        (tmp / "lib.so").write_text("built")
        time.sleep(0.5)  # long enough for the others to want it meanwhile
        with open(log, "a") as f:
            f.write("built\\n")
        integrity.publish(tmp, out)
"""


@pytest.mark.treeless
def test_processes_that_want_one_build_at_once_build_it_once(tmp_path):
    from harness import integrity

    out, log = tmp_path / "build" / "7.2-abc", tmp_path / "log"
    out.parent.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(out), str(log), str(i)])
             for i in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert log.read_text() == "built\n"
    assert integrity.problem(out) is None


@NATIVE
@RUST
def test_a_damaged_rust_stage_is_rebuilt(tmp_path, monkeypatch):
    from harness import integrity
    from harness.backends.rust.build import build as rust_build
    from harness.trees.tree import inspect

    tree = _tree()
    if not (tree.root / "rust/kernel/gpu/buddy.rs").is_file():
        pytest.skip("the tree has no Rust binding")
    rust_build(tree, log=lambda _m: None)  # the real cache's stages, sealed
    _private_cache(tmp_path, monkeypatch, "rust")  # the tree's crates copied: no minute
    first = rust_build(tree, log=lambda _m: None)  # its own native build, glue, kernel crate
    w = first.worker
    w.write_bytes(w.read_bytes()[:4096])
    assert integrity.problem(first.dir)
    again = rust_build(inspect(tree.root), log=lambda _m: None)
    assert again.dir == first.dir and again.seconds > 0
    assert integrity.problem(first.dir) is None
    from harness.backends.rust.backend import RustBackend

    b = RustBackend("rust@x", tree, again, timeout=10)
    try:
        assert b.create_binding(0, 1 << 20, 4096).avail() == 1 << 20
    finally:
        b.close()


# -- 13: fetches lock, publish atomically, check the cache first; leftovers are swept -------

FAKE = "9.9"  # a version no archive has: the package comes from a local fake apt-get
APT = """#!/bin/sh
# A stand-in for apt-get: `download` copies the prepared package, and says so in a log.
case " $* " in
  *" download "*) echo download >> "$FAKE_APT_LOG"; sleep "${FAKE_APT_SLEEP:-0}";
                  cp "$FAKE_APT_DEB" "./linux-source-9.9_9.9.1-1_all.deb";;
esac
exit 0
"""


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory) -> Path:
    """linux-source-9.9 as a Debian package holding a copy of the cached 7.2 tree."""
    import tarfile

    from harness.trees import kernels
    from harness.trees.tree import META

    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is needed to build the fake package")
    try:
        kernels.archive_source()
    except kernels.FetchError as e:
        pytest.skip(str(e))
    tree = kernels.locate("7.2")
    if tree is None:
        pytest.skip("Linux 7.2 is not cached (buddy-harness kernel fetch 7.2)")
    d = tmp_path_factory.mktemp("fake-deb")
    pkg = d / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        "Package: linux-source-9.9\nVersion: 9.9.1-1\nArchitecture: all\n"
        "Maintainer: nobody <nobody@localhost>\nDescription: a fake kernel source\n")
    (pkg / "usr/src").mkdir(parents=True)
    with tarfile.open(pkg / "usr/src/linux-source-9.9.tar.gz", "w:gz", compresslevel=1) as t:
        t.add(os.path.realpath(tree), "linux-source-9.9",  # the cached name is a link
              filter=lambda m: None if m.name.rsplit("/", 1)[-1] in (META, ".manifest.json")
              else m)
    deb = d / "linux-source-9.9_9.9.1-1_all.deb"
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(pkg), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture
def fake_apt(tmp_path, monkeypatch, fake_deb) -> Path:
    """PATH with the fake apt-get; returns its download log.  The cache is the test's own."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apt-get").write_text(APT)
    (bindir / "apt-get").chmod(0o755)
    log = tmp_path / "downloads.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APT_LOG", str(log))
    monkeypatch.setenv("FAKE_APT_DEB", str(fake_deb))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return log


def test_two_fetches_of_one_version_download_once(fake_apt, tmp_path):
    env = dict(os.environ, FAKE_APT_SLEEP="1")
    procs = [subprocess.Popen([sys.executable, "-m", "harness", "kernel", "fetch", FAKE],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert fake_apt.read_text().split() == ["download"], outs
    assert all(o[0].startswith("9.9.1\t9.9.1-1\t") for o in outs), outs


def test_a_reader_never_sees_the_tree_missing_during_a_refetch(fake_apt, capsys):
    from harness.trees import kernels

    tree = kernels.fetch(FAKE, log=lambda _m: None)
    refetch = subprocess.Popen([sys.executable, "-m", "harness", "kernel", "fetch", FAKE],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    looks, missing = 0, 0
    while refetch.poll() is None:
        looks += 1
        missing += kernels.locate(FAKE) is None
    assert refetch.wait() == 0, refetch.stderr.read()  # type: ignore[union-attr]
    assert fake_apt.read_text().split() == ["download", "download"]
    assert looks > 50 and missing == 0, f"missing {missing} times of {looks}"
    assert kernels.locate(FAKE) == tree
    hidden = [p.name for p in kernels.kernels_dir().iterdir()
              if p.name.startswith(".") and not p.name.startswith(".lock-")]
    assert hidden == [os.readlink(tree)], "only the tree the link points at is left"


def test_an_unwritable_cache_is_found_before_downloading(fake_apt, tmp_path, monkeypatch,
                                                         capsys):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    assert main(["kernel", "fetch", FAKE]) == 1
    err = capsys.readouterr().err
    assert "cannot write the kernel cache" in err and str(blocker) in err
    assert fake_apt.read_text() == "", "downloaded before finding the cache unwritable"


def test_a_full_disk_says_disk_full_and_leaves_nothing(fake_apt, monkeypatch, capsys):
    import errno
    import tarfile

    from harness.trees import kernels

    def full(self, member, path="", **kw):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(path, member.name))

    monkeypatch.setattr(tarfile.TarFile, "extract", full)
    assert main(["kernel", "fetch", FAKE]) == 1
    err = capsys.readouterr().err
    assert "disk full" in err and "cannot read the archive" not in err, err
    assert len(err.strip().splitlines()[-1:]) == 1 and "Traceback" not in err
    left = [p.name for p in kernels.kernels_dir().iterdir() if not p.name.startswith(".lock-")]
    assert left == []


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.mark.treeless
def test_leftovers_of_killed_runs_are_swept_on_the_next_start(tmp_path, monkeypatch):
    root = tmp_path / "cache" / "buddy-harness"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    dead, live = _dead_pid(), os.getpid()
    old = time.time() - 2 * 3600
    gone = [root / f"kernels/.tree-6.12-{dead}-abcd1234", root / f"kernels/.download-6.12-{dead}-x",
            root / f"rust/.build-{dead}-q1w2e3r4", root / f"build/.build-{dead}-zz",
            root / "rust/.build-oldstyle", root / "kernels/.6.12-oldstyle",
            tmp_path / "tmp/buddy-harness-fetch-oldstyle"]
    kept = [root / f"rust/.build-{live}-q1w2e3r4", root / "rust/.build-recent",
            root / f"kernels/.tree-7.2-{dead}-target", root / "kernels/.lock-7.2",
            tmp_path / "tmp/buddy-harness-fetch-recent"]
    for p in gone + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.name.startswith(".lock"):
            p.write_text("")
        else:
            (p / "file").mkdir(parents=True)
    for p in gone:
        if "oldstyle" in p.name:
            os.utime(p, (old, old))
    (root / "kernels/7.2").symlink_to(f".tree-7.2-{dead}-target")  # a published tree
    assert main(["kernel", "list"]) == 0
    assert [p for p in gone if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


# -- the property: a run killed anywhere leaves no process, and a cache the next run uses ----

KILLED = int(os.environ.get("KILLED_RUN_EXAMPLES", "0"))  # more: KILLED_RUN_EXAMPLES=N


@NATIVE
@settings(max_examples=KILLED or 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(sig=st.sampled_from([signal.SIGKILL, signal.SIGTERM, signal.SIGINT]),
       delay=st.floats(0.0, 2.5))
def test_a_killed_run_leaves_no_process_and_a_cache_the_next_run_uses(sig, delay):
    """Killed while building (a cold cache) or while running cases, at a random moment."""
    from harness import integrity, leftovers
    from harness.trees import kernels
    from tests.test_interrupt import SPEC

    real = kernels.cache_root()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        root = t / "cache" / "buddy-harness"
        root.mkdir(parents=True)
        (root / "kernels").symlink_to(real / "kernels")
        (t / "slow").mkdir()
        (t / "slow" / "slow.yaml").write_text(SPEC)
        env = {"XDG_CACHE_HOME": str(t / "cache")}
        tag = uuid.uuid4().hex
        name = _native_name()
        proc = _start(["run", "--backend", name, "--specs", str(t / "slow"), "--json",
                       str(t / "r.json")], tag, env)
        try:
            # From the moment the harness handles signals (before that, the interpreter is
            # still starting, and a Ctrl-C there is Python's own traceback).
            _wait_for(lambda: _catches_sigterm(proc.pid), "signal handler", proc, 60)
            time.sleep(delay)
            os.kill(proc.pid, sig)
            proc.communicate(timeout=30)
            assert proc.returncode in (128 + sig, -sig, 0), proc.returncode
            # After a SIGKILL, the compilers of a build under way finish on their own.
            assert _left(tag, grace=60) == {}, "a process outlived the killed run"
        finally:
            _reap(proc, tag)
        if sig != signal.SIGKILL and (t / "r.json").exists():
            json.loads((t / "r.json").read_text())  # whole, if written
        nxt = _start(["run", "--backend", name, "--specs", str(_two_cases(t, "core")),
                      "--expect-as", "none", "-k", "chatty."], tag, env)
        out, err = nxt.communicate(timeout=120)
        assert nxt.returncode == 0, out + err
        assert "2 passed, 0 failed" in out
        builds = [p for p in (root / "build").iterdir()
                  if not p.name.startswith(".") and p.name != "objects"]
        assert builds and all(integrity.problem(p) is None for p in builds)
        assert leftovers.sweep(root) == [], "the next run left a killed run's scratch behind"
