"""Run a KUnit runner (:mod:`harness.kunit.build`) and read what each case did."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import procs
from harness.backends.native.build import Build

STATUSES = ("pass", "fail", "skip", "crash", "timeout")


@dataclass(frozen=True)
class CaseResult:
    suite: str
    name: str
    status: str  # one of STATUSES
    seconds: float
    message: str


@dataclass
class KunitRun:
    ktap: str  # the runner's whole output: KTAP, as the kernel prints it
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0
    stderr: str = ""


def run(runner: Path, native: Build, *, seed: int, skip_slow: bool,
        timeout: float, module: str | None = None) -> KunitRun:
    """Every case of the runner, each in its own process; ``timeout`` is per case."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(native.dir))
    with tempfile.TemporaryDirectory(prefix="buddy-harness-kunit-") as tmp:
        records = Path(tmp) / "records"
        cmd = [str(runner), "--seed", str(seed), "--timeout", f"{timeout:g}",
               "--records", str(records), *(["--skip-slow"] if skip_slow else []),
               *(["--module", module] if module else [])]
        t0 = time.monotonic()
        # Output to files and the runner in a group of its own: whatever the C forks can
        # neither hold a pipe open nor outlive the run (the group is ended afterwards).
        # The runner ends every case itself; the bound is for a runner that hangs.
        with open(Path(tmp) / "out", "w+", errors="replace") as fo, \
                open(Path(tmp) / "err", "w+", errors="replace") as fe:
            p = procs.spawn(cmd, stdout=fo, stderr=fe, env=env)
            try:
                p.wait(timeout=timeout * 64 + 60)
            except subprocess.TimeoutExpired:
                pass
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                procs.end_group(p)
            fo.seek(0)
            fe.seek(0)
            stdout, stderr = fo.read(), fe.read()
        took = time.monotonic() - t0
        text = records.read_text(errors="replace") if records.is_file() else ""
    return KunitRun(stdout, [parse_record(ln) for ln in text.splitlines()
                             if ln.startswith("case\t")], took, stderr)


def parse_record(line: str) -> CaseResult:
    _, suite, name, status, seconds, text = line.split("\t", 5)
    return CaseResult(suite, name, status, float(seconds), _unescape(text))


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
