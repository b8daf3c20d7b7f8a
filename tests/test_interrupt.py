"""Ctrl-C during `buddy-harness run` on a native backend: exit 130 promptly, no traceback,
what finished is printed, and no worker process outlives the run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness.backends.native.build import build
from harness.backends.native.testing import available_trees, why_unavailable

SKIP = why_unavailable()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
TAG = "BUDDY_HARNESS_INTERRUPT_TAG"
CASE = "interrupt.slow-churn"
# 100 items of 1000 worker round trips each: about 10 s uninterrupted, so still running
# when the signal comes.
SPEC = f"""\
id: {CASE}
title: Many small allocations and frees, slow enough to be interrupted
source: {{kind: extra, ref: tests/test_interrupt.py}}
layer: core
params: {{a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}}
buddy: {{size: 64M, chunk_size: 4K}}
steps:
  - repeat:
      count: 500
      steps:
        - alloc: {{as: "x{{i}}", size: 4K, min_block_size: 4K}}
        - free: "x{{i}}"
"""


def _workers(path: str, tag: str) -> dict[int, int]:
    """pid -> parent pid of every live process running ``path`` with ``tag`` in its env."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if path not in (d / "cmdline").read_bytes().decode(errors="replace"):
                continue
            if f"{TAG}={tag}".encode() not in (d / "environ").read_bytes().split(b"\0"):
                continue
            stat = (d / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if state != "Z":
            out[int(d.name)] = int(ppid)
    return out


def test_ctrl_c_prints_what_finished_and_leaves_no_worker(tmp_path: Path,
                                                          pytestconfig: pytest.Config) -> None:
    trees = available_trees()
    name = "native@7.2" if "native@7.2" in trees else sorted(trees)[0]
    worker = str(build(trees[name]).worker)  # the build `run` uses (cached, same key)
    (tmp_path / "slow.yaml").write_text(SPEC)
    # The tag marks this run's descendants: a worker orphaned by the run still carries it.
    tag = uuid.uuid4().hex
    env = dict(os.environ, **{TAG: tag})
    before = _workers(worker, tag)
    assert not before
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--backend", name, "--specs",
             str(tmp_path)], cwd=pytestconfig.rootpath, env=env, stdout=subprocess.PIPE,
            stderr=err, start_new_session=True,  # its own group, as a terminal would
            # A run started in the background (nohup, CI runners) may inherit SIGINT
            # ignored; a terminal's foreground job has the default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.extend(ln.decode() for ln in proc.stdout))  # type: ignore
        reader.start()
        try:
            deadline = time.monotonic() + 60
            while not any(ln.startswith(CASE) for ln in lines):  # a case has finished
                assert proc.poll() is None and time.monotonic() < deadline, "no case ran"
                time.sleep(0.02)
            children = {p for p, pp in _workers(worker, tag).items() if pp == proc.pid}
            assert children, "the scan should see the run's workers (one per core)"
            os.killpg(proc.pid, signal.SIGINT)
            t0 = time.monotonic()
            code = proc.wait(timeout=15)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(timeout=10)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    stdout = "".join(lines)
    print(f"\nSIGINT after {sum(ln.startswith(CASE) for ln in lines)} rows: exit {code} "
          f"in {took:.2f} s")
    assert code == 130, stdout + stderr
    assert took < 5
    assert "Traceback" not in stdout + stderr, stdout + stderr
    m = re.search(r"^interrupted: (\d+) of (\d+)", stderr, re.M)
    assert m, stderr
    done, total = int(m[1]), int(m[2])
    assert total == 100 and 1 <= done < total
    rows = [ln for ln in lines if ln.startswith(CASE)]
    assert len(rows) == done and all(ln.split()[3] == "pass" for ln in rows)
    assert re.search(rf"^{done} passed, 0 failed, 0 skipped$", stdout, re.M), stdout
    assert _workers(worker, tag) == {}, "a worker outlived the interrupted run"
