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
from typing import IO

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
    return start(runner, native, seed=seed, skip_slow=skip_slow, timeout=timeout,
                 module=module).wait()


def start(runner: Path, native: Build, *, seed: int, skip_slow: bool,
          timeout: float, module: str | None = None) -> Running:
    """:func:`run`, started: what it did comes with :meth:`Running.wait`."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(native.dir))
    tmp = tempfile.TemporaryDirectory(prefix="buddy-harness-kunit-")
    records = Path(tmp.name) / "records"
    cmd = [str(runner), "--seed", str(seed), "--timeout", f"{timeout:g}",
           "--records", str(records), *(["--skip-slow"] if skip_slow else []),
           *(["--module", module] if module else [])]
    # Output to files and the runner in a group of its own: whatever the C forks can
    # neither hold a pipe open nor outlive the run (the group is ended afterwards).
    fo = open(Path(tmp.name) / "out", "w+", errors="replace")
    fe = open(Path(tmp.name) / "err", "w+", errors="replace")
    try:
        proc = procs.spawn(cmd, stdout=fo, stderr=fe, env=env)
    except BaseException:
        fo.close()
        fe.close()
        tmp.cleanup()
        raise
    return Running(proc, tmp, fo, fe, records, time.monotonic(), timeout)


@dataclass
class Running:
    proc: subprocess.Popen
    tmp: tempfile.TemporaryDirectory
    out: IO[str]
    err: IO[str]
    records: Path
    t0: float
    timeout: float

    def wait(self) -> KunitRun:
        """The runner's KTAP and each case's record, once it ended (it ends every case
        itself; the bound is for a runner that hangs)."""
        try:
            try:
                self.proc.wait(timeout=self.timeout * 64 + 60)
            except subprocess.TimeoutExpired:
                pass
            self.end()
            self.out.seek(0)
            self.err.seek(0)
            stdout, stderr = self.out.read(), self.err.read()
            took = time.monotonic() - self.t0
            text = self.records.read_text(errors="replace") if self.records.is_file() else ""
        finally:
            self.close()
        return KunitRun(stdout, [parse_record(ln) for ln in text.splitlines()
                                 if ln.startswith("case\t")], took, stderr)

    def end(self) -> None:
        """The runner's group, ended."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        procs.end_group(self.proc)

    def close(self) -> None:
        self.out.close()
        self.err.close()
        self.tmp.cleanup()


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
