"""Hostile input and output files: a spec or a patch that is a FIFO, a device, a huge sparse
file, a symlink loop, a number of thousands of digits, a NUL in a path; an output that is one
of the run's inputs, or that the disk cannot take; a damaged tree record in the cache.  Each
ends in one line and a documented exit code, never a hang, a traceback, or a lost file.

The runs that could hang or eat memory before the harness checked its files are child
processes with a timeout and an address-space limit, so a regression fails the test instead
of stopping the machine.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import fileio
from harness.cli import main
from harness.patching import parse
from harness.spec.loader import load_paths
from harness.trees import kernels
from tests.helpers import write_spec
from tests.test_cli import GOOD
from tests.test_hostile import _env
from tests.test_patch import BUDDY_C, cache, diff, meta, patch_cli  # noqa: F401 (cache)

HANG = 30  # seconds: a run that checks its files first ends far sooner
MEMORY = 2 << 30  # address space of a child: a whole-file read of 3 GiB cannot fit


def _limits(fsize: int | None = None):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if fsize is not None:  # a write past it fails with EFBIG, as a full disk does
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


def harness(tmp: Path, *args: str, fsize: int | None = None, **kw) -> subprocess.CompletedProcess:
    """``buddy-harness ARGS`` as a child process with a private cache, bounded in time."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=tmp, env=_env(str(tmp)),
                          capture_output=True, text=True, timeout=HANG,
                          preexec_fn=_limits(fsize), **kw)


def complaints(err: str) -> list[str]:
    """The lines of ``err`` but the note that quotes went unchecked (no 7.2 in the cache)."""
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("quote check ")]


def one_line(err: str) -> str:
    lines = complaints(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def spec(tmp_path) -> Path:
    return write_spec(tmp_path / "specs", "good.yaml", GOOD)


# -- output files ---------------------------------------------------------------------------


def test_json_the_disk_cannot_take_keeps_the_previous_file_and_names_it(tmp_path, spec):
    out = tmp_path / "results.json"
    out.write_text('{"previous": true}\n')
    r = harness(tmp_path, "run", "--specs", str(spec), "--backend", "reference", "--json",
                str(out), fsize=100)  # the results are larger than that
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == (f"buddy-harness run: {out}: cannot write it: File too large "
                                  "(the previous file is kept)")
    assert out.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "results.json", "specs"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_device_as_json_is_named(spec, capsys):
    rc = main(["run", "--specs", str(spec), "--backend", "reference", "--json", "/dev/full"])
    assert rc == 1
    assert one_line(capsys.readouterr().err) == ("buddy-harness run: /dev/full: cannot write "
                                                 "it: No space left on device")


def test_json_written_through_a_link_and_into_a_device(tmp_path, spec, capsys):
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o640)
    (tmp_path / "link.json").symlink_to(real)
    assert main(["run", "--specs", str(spec), "--backend", "reference", "--json",
                 str(tmp_path / "link.json")]) == 0
    assert (tmp_path / "link.json").is_symlink()
    assert json.loads(real.read_text())["summary"]["pass"] == 2
    assert real.stat().st_mode & 0o777 == 0o640
    assert main(["run", "--specs", str(spec), "--backend", "reference", "--json",
                 "/dev/null"]) == 0
    assert Path("/dev/null").is_char_device()


def test_a_file_in_a_directory_one_may_not_write_is_written_in_place(tmp_path, monkeypatch):
    out = tmp_path / "out.json"
    out.write_text("old")

    def refused(**kw):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(fileio.tempfile, "mkstemp", refused)
    fileio.write_output(out, "new")
    assert out.read_text() == "new"
    with pytest.raises(fileio.OutputError, match="no permission to create a file in"):
        fileio.write_output(tmp_path / "absent.json", "new")


@pytest.mark.parametrize("target", ["good.yaml", "expectations/reference.yaml"])
def test_an_output_naming_one_of_the_run_s_inputs_is_refused_before_the_run(
        tmp_path, spec, capsys, target):
    write_spec(spec.parent, "expectations/reference.yaml", "c.other: a reason\n")
    path = spec.parent / target
    before = path.read_bytes()
    for specs in (str(path), str(spec.parent)):
        if target != "good.yaml" and specs == str(path):
            continue
        rc = main(["run", "--specs", specs, "--backend", "reference", "--json", str(path)])
        err = one_line(capsys.readouterr().err)
        assert rc == 2
        assert err.startswith(f"buddy-harness run: --json {path} is one of the run's inputs")
        assert path.read_bytes() == before


def test_an_output_that_is_a_hard_link_to_an_input_is_never_written(tmp_path, spec, capsys):
    out = tmp_path / "out.json"
    os.link(spec, out)
    rc = main(["run", "--specs", str(spec), "--backend", "reference", "--json", str(out)])
    err = one_line(capsys.readouterr().err)
    assert rc == 2
    assert err == (f"buddy-harness run: {out}: it is one of the run's inputs: give another file "
                   "name (the file is left as it was)")
    assert spec.read_text() == out.read_text()
    assert "id: c.good" in spec.read_text()


# -- input files ----------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["check", "run"])
def test_a_fifo_as_a_spec_file_is_refused_at_once(tmp_path, verb):
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    args = [str(fifo)] if verb == "check" else ["--specs", str(fifo), "--backend", "reference"]
    r = harness(tmp_path, verb, *args)
    assert r.returncode == 2
    assert complaints(r.stderr)[0] == (f"{fifo}:1:1: cannot read the file: a FIFO (named "
                                        "pipe), not a regular file (give a regular file)")
    assert "Traceback" not in r.stderr


def test_dev_stdin_and_dev_zero_as_spec_files_are_refused(tmp_path):
    read, write = os.pipe()  # a stdin that never ends: reading it would wait for good
    try:
        for dev, kw in (("/dev/stdin", {"stdin": read}), ("/dev/zero", {})):
            r = harness(tmp_path, "check", dev, **kw)
            assert r.returncode == 2, r.stderr[-2000:]
            first = complaints(r.stderr)[0]
            assert first.startswith(f"{dev}:1:1: cannot read the file: a ") and \
                first.endswith(", not a regular file (give a regular file)"), first
    finally:
        os.close(read)
        os.close(write)


def test_a_huge_sparse_spec_is_refused_by_its_size_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(3 << 30)
    t0 = time.monotonic()
    r = harness(tmp_path, "check", str(huge))
    assert r.returncode == 2, r.stderr[-2000:]
    assert complaints(r.stderr) == [f"{huge}:1:1: file is larger than 2 MiB (split it into "
                                     "several files)", "1 error(s) in 1 file(s)"]
    assert time.monotonic() - t0 < HANG


def test_a_file_that_grows_past_the_limit_while_read_is_cut_off(tmp_path):
    grown = tmp_path / "grown.yaml"
    grown.write_bytes(b"x" * 100)
    with pytest.raises(fileio.InputError, match="file is larger than 99 bytes"):
        fileio.read_input(grown, 99)  # the size on the disk is over: refused before reading
    assert fileio.read_input(grown, 100) == b"x" * 100


@pytest.mark.parametrize("verb", ["check", "run"])
def test_a_symlink_loop_is_named_as_such(tmp_path, capsys, verb):
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    rc = main([verb, str(loop)] if verb == "check" else [verb, "--specs", str(loop)])
    assert rc == 2
    assert one_line(capsys.readouterr().err) == (f"buddy-harness {verb}: {loop}: a symlink "
                                                 "loop (the link leads back to itself)")


def test_a_symlink_loop_as_the_pytest_plugin_s_specs_is_named(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                        "harness.pytest_plugin", "--specs", str(loop)], cwd=tmp_path,
                       env=_env(str(tmp_path)), capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 4
    assert one_line(r.stderr) == (f"ERROR: --specs {loop}: a symlink loop (the link leads back "
                                  "to itself)")


def test_a_symlink_loop_given_to_the_loader_is_a_spec_error(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    result = load_paths([loop])  # as the pytest plugin's --specs gives it
    assert [str(e) for e in result.errors] == [
        f"{loop}:1:1: cannot read the file: a symlink loop (the link leads back to itself)"]


def test_a_yaml_integer_of_5000_digits_is_one_line_and_the_other_files_still_run(
        tmp_path, spec, capsys):
    write_spec(spec.parent, "huge.yaml", GOOD.replace("c.good", "c.huge")
               .replace("size: 1G", "size: " + "1" * 5000))
    write_spec(spec.parent, "limit.yaml", GOOD.replace("c.good", "c.limit")
               .replace("title:", "limits: {operations: " + "7" * 5000 + "}\ntitle:"))
    rc = main(["run", "--specs", str(spec.parent), "--backend", "reference"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert complaints(err) == [
        f"{spec.parent / 'huge.yaml'}:5:31: number 11111111111111111111... (5,000 digits) does "
        "not fit in u64 (values must be below 2**64)",
        f"{spec.parent / 'limit.yaml'}:2:22: number 77777777777777777777... (5,000 digits) does "
        "not fit in u64 (values must be below 2**64)"]
    assert "2 passed, 0 failed" in out


@pytest.mark.parametrize("record", ['[]', '"7.2"', '{"layout": "2"}', '{"layout": true}',
                                    '{"layout": 2, "package": 7}', '{"layout": 2, "base": []}',
                                    '[' * 100_000])
def test_a_damaged_tree_record_leaves_kernel_list_and_run_working(tmp_path, monkeypatch, spec,
                                                                  capsys, record):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tree = tmp_path / "cache" / "buddy-harness" / "kernels" / "7.2"
    tree.mkdir(parents=True)
    (tree / "buddy-harness.json").write_text(record)
    assert main(["kernel", "list"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert main(["run", "--specs", str(spec)]) == 0  # the damaged tree is not a backend
    out, err = capsys.readouterr()
    assert "2 passed, 0 failed" in out and "native@7.2" not in out


# -- patch files ----------------------------------------------------------------------------


@pytest.mark.usefixtures("cache")
def test_a_fifo_a_device_and_a_huge_file_as_patch_are_refused(tmp_path):
    fifo, huge = tmp_path / "f.patch", tmp_path / "huge.patch"
    os.mkfifo(fifo)
    with open(huge, "wb") as f:
        f.truncate(3 << 30)
    for path, problem in ((fifo, "cannot read the file: a FIFO (named pipe), not a regular file "
                                 "(give a regular file)"),
                          ("/dev/zero", "cannot read the file: a character device, not a regular "
                                        "file (give a regular file)"),
                          (huge, "file is larger than 64 MiB (cut it down to the patch)")):
        r = harness(tmp_path, "kernel", "patch", "t1", "--onto", "7.2", str(path))
        assert r.returncode == 2
        assert one_line(r.stderr) == f"buddy-harness kernel patch: {path}: {problem} (nothing " \
                                     "cached)"
    assert not (kernels.kernels_dir() / "t1").exists()


@pytest.mark.usefixtures("cache")
def test_two_spellings_of_one_file_are_one_file(tmp_path, capsys):
    first = BUDDY_C.replace("\tunsigned int i;\n", "\tunsigned int i, j;\n")
    both = first.replace("\tmm->size = size;\n", "\tmm->size = size;\n\tmm->avail = size;\n")
    text = (diff({"drivers/gpu/buddy.c": (BUDDY_C, first)})
            + diff({"drivers/gpu/./buddy.c": (first, both)}).replace("a/drivers/gpu/./",
                                                                     "a/drivers//gpu/./"))
    assert "drivers//gpu/./buddy.c" in text
    rc, out, err = patch_cli(tmp_path, "t1", text, capsys)
    assert rc == 0, err
    assert (kernels.kernels_dir() / "t1" / "drivers/gpu/buddy.c").read_text() == both
    assert meta(kernels.kernels_dir(), "t1")["changed"] == {"modified": ["drivers/gpu/buddy.c"]}


def test_a_quoted_reply_of_3_mb_is_read_in_linear_time():
    lines = ["On Mon, someone wrote:"]
    for i in range(30_000):  # thirty thousand files quoted, each with a reviewer's comment
        lines += [f"> diff --git a/d/f{i}.c b/d/f{i}.c", f"> --- a/d/f{i}.c", f"> +++ b/d/f{i}.c",
                  "> @@ -1,2 +1,2 @@", ">  a", "> -b", "> +c", "", "a comment", ""]
    text = "\n".join(lines) + "\n"
    assert len(text) > 3 << 20
    t0 = time.monotonic()
    patch = parse.read(text, "reply")
    took = time.monotonic() - t0
    assert len(patch.files) == 30_000
    assert took < 15, f"{took:.1f} s"  # a second or two; rebuilding a set per file: minutes


@pytest.mark.usefixtures("cache")
def test_an_mbox_of_20_000_messages_is_read_in_linear_time():
    text = "".join(f"From {i:040x} Mon Sep 17 00:00:00 2001\nSubject: [PATCH] p{i}\n\n"
                   f"diff --git a/d/f{i}.c b/d/f{i}.c\n--- a/d/f{i}.c\n+++ b/d/f{i}.c\n"
                   "@@ -1 +1 @@\n-a\n+b\n" for i in range(20_000))
    t0 = time.monotonic()
    patch = parse.read(text, "mbox")
    took = time.monotonic() - t0
    assert len(patch.files) == 20_000
    assert took < 20, f"{took:.1f} s"  # seconds; comparing each to every earlier: minutes


@pytest.mark.usefixtures("cache")
def test_a_hunk_number_of_5000_digits_is_one_line(tmp_path, capsys):
    text = diff({"drivers/gpu/new.c": (None, "x\n")}).replace("+1 @@", "+" + "9" * 5000 + " @@")
    rc, out, err = patch_cli(tmp_path, "t1", text, capsys)
    assert rc == 2
    assert one_line(err).startswith("buddy-harness kernel patch: ")
    assert "a line number or count of more than 9 digits (the patch is damaged)" in err


@pytest.mark.usefixtures("cache")
def test_a_nul_in_a_patched_path_is_one_line(tmp_path, capsys):
    text = diff({"drivers/gpu/a\0b.c": (None, "x\n")})
    rc, out, err = patch_cli(tmp_path, "t1", text, capsys)
    assert rc == 2
    assert one_line(err) == ("buddy-harness kernel patch: " + str(tmp_path / "t1.patch")
                             + ":1: the file name 'drivers/gpu/a\\x00b.c' has a NUL byte in it "
                             "(no file can be named so) (nothing cached)")


@pytest.mark.parametrize("path, problem", [("drivers/gpu", "'drivers/gpu' is a directory"),
                                           ("drivers/gpu/buddy.c/new.c",
                                            "'drivers/gpu/buddy.c' is a file")])
@pytest.mark.usefixtures("cache")
def test_a_path_the_tree_cannot_hold_exits_2_and_names_the_file_in_the_tree(tmp_path, capsys,
                                                                           path, problem):
    """Refused when the patch is read against the tree, before anything is built: the line
    names the patch, the file in the tree, and never the staging directory."""
    rc, out, err = patch_cli(tmp_path, "t1", diff({path: (None, "x\n")}), capsys)
    assert rc == 2
    assert one_line(err) == (f"buddy-harness kernel patch: {tmp_path / 't1.patch'}:1: "
                             f"{problem} in the tree (nothing cached)")
    assert sorted(p.name for p in kernels.kernels_dir().iterdir()) == [".lock-t1", "7.2"]


# -- arbitrary bytes ------------------------------------------------------------------------

HEADS = [b"", b"id: x\n", b"diff --git a/drivers/gpu/buddy.c b/drivers/gpu/buddy.c\n"
         b"--- a/drivers/gpu/buddy.c\n+++ b/drivers/gpu/buddy.c\n@@ -1,3 +1,3 @@\n",
         b"> diff --git a/x b/x\n> @@ -1 +1 @@\n", b"From 0 Mon Sep 17 00:00:00 2001\n"]
hostile_bytes = st.builds(lambda head, body: head + body, st.sampled_from(HEADS),
                          st.binary(max_size=600))
FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(data=hostile_bytes)
def test_arbitrary_bytes_as_a_spec_file_end_in_one_line_and_exit_2(tmp_path, capsys, data):
    f = tmp_path / "any.yaml"
    f.write_bytes(data)
    t0 = time.monotonic()
    rc = main(["run", "--specs", str(f), "--backend", "reference"])
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 2 and took < 2, (rc, took, err)
    assert one_line(err).startswith(f"{f}:")


@FAST
@given(data=hostile_bytes)
@pytest.mark.usefixtures("cache")
def test_arbitrary_bytes_as_a_patch_file_end_in_one_line_and_exit_2(tmp_path, capsys,
                                                                    data):
    f = tmp_path / "any.patch"
    f.write_bytes(data)
    t0 = time.monotonic()
    rc = main(["kernel", "patch", "t1", "--onto", "7.2", str(f)])
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 2 and took < 2, (rc, took, err)
    assert one_line(err).startswith("buddy-harness kernel patch: ")
    assert not (kernels.kernels_dir() / "t1").exists()
