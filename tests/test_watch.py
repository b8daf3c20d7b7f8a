"""``buddy-harness watch``: a saved file reruns what it affects and only changed verdicts
are printed; a tree edit that does not compile is said and the watch goes on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.commands.watch import Watcher, WatchRequest
from tests.scratch_tree import copy_tree
from tests.test_cli import ROOT

CHECK = "expect: {total: 12M, avail: 0}"
BROKEN = "expect: {total: 12M, avail: 1}"


@pytest.fixture
def specs(tmp_path) -> Path:
    d = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", d)
    return d


def _watcher(names: list[str], specs: Path, **kw) -> Watcher:
    w = Watcher(WatchRequest([specs], names, **kw))
    w.load()
    for n in names:
        assert w.open(n) is None
    w.record(w.run(names), None)
    return w


@pytest.mark.treeless
def test_the_options_are_read_once_into_the_request(specs):
    from harness.cli import build_parser

    argv = ["watch", "--specs", str(specs), "--specs", str(specs / "extra" / "size.yaml"),
            "--backend", "reference", "--backend", "native@7.2", "--kernel-src", "/src",
            "--native-sanitize", "--timeout", "3", "-k", "trim", "--expect-as", "none",
            "-j", "2"]
    got = WatchRequest.from_options(build_parser(argv).parse_args(argv))
    assert got == WatchRequest(dirs=[specs, specs / "extra"], names=["reference", "native@7.2"],
                               kernel_src="/src", sanitize=True, timeout=3.0, keyword="trim",
                               expect_as="none", jobs=2)
    argv = ["watch", "--specs", str(specs), "--backend", "reference"]
    assert WatchRequest.from_options(build_parser(argv).parse_args(argv)) == WatchRequest(
        [specs], ["reference"])  # what the options leave out is the request's default


@pytest.mark.treeless
def test_a_saved_case_reruns_its_file_and_prints_only_changes(specs):
    w = _watcher(["reference"], specs)
    size = specs / "extra" / "size.yaml"
    size.write_text(size.read_text().replace(CHECK, BROKEN))
    lines = w.handle({size})
    assert lines[:-1] == [
        f"extra.size-core-is-rounded-down-to-a-chunk[chunk={c}] on reference: pass -> fail: "
        "step 2 (line 15): expected avail 1, got 0 [state: avail=0, clear_avail=0, "
        "live blocks=2]" for c in ("4K", "64K")]
    assert lines[-1].startswith("2 verdict(s) changed") and "2 failed" in lines[-1]
    # Saving it again unchanged, or saving an unrelated file, changes nothing.
    assert w.handle({size})[0].startswith("no verdict(s) changed")
    assert w.handle({specs.parent / "notes.txt"}) == []
    size.unlink()
    gone = w.handle({size})
    assert sum("-> gone" in line for line in gone) == 4  # both cases, all their params



def test_a_saved_allocator_rebuilds_and_names_the_changed_case(tmp_path, specs):
    tree = copy_tree(tmp_path)
    name = f"native@{tree}"
    w = _watcher([name], specs, keyword="block-trim")
    buddy = tree / "drivers/gpu/buddy.c"
    good = buddy.read_text()
    buddy.write_text(good.replace(
        "\t\tif (!IS_ALIGNED(new_start, mm->chunk_size))\n\t\t\treturn -EINVAL;\n", ""))
    lines = w.handle({buddy})
    assert lines[0].startswith(f"kernel-doc.block-trim-rejects-bad-input on {name}: "
                               "pass -> crash: bug: BUG_ON")
    assert lines[-1].startswith("1 verdict(s) changed")
    buddy.write_text(good + "\nthis does not compile\n")
    lines = w.handle({buddy})
    assert any("failed" in line and "buddy.c" in line for line in lines), lines
    assert f"{name}: not rebuilt; earlier verdicts kept" in lines
    buddy.write_text(good)
    assert w.handle({buddy})[0].endswith("crash -> pass")
    w.close()


@pytest.mark.treeless
def test_watch_sees_a_save_through_the_file_system(specs):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "watch", "--backend", "reference",
                             "--specs", str(specs)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "; watching" in first, first + proc.stderr.read()  # type: ignore[union-attr]
        size = specs / "extra" / "size.yaml"
        tmp = size.with_suffix(".swp")  # as editors save: write aside, rename over
        tmp.write_text(size.read_text().replace(CHECK, BROKEN))
        tmp.rename(size)
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "verdict(s) changed" in line:
                break
        assert any("pass -> fail" in s for s in seen), seen
        assert seen[-1].startswith("2 verdict(s) changed"), seen
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
