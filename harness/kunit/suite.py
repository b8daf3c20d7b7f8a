"""The KUnit items of a native backend: its tree's KUnit file, built and run beside the cases."""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from harness.engine.trace import Outcome
from harness.kunit import build, run, source
from harness.kunit.settings import SETTINGS

if TYPE_CHECKING:
    from harness.backends.native.backend import NativeBackend

BUILD_ITEM = source.PREFIX  # the one item a file that does not build becomes
# Runner statuses as the harness's outcomes: a case that died or hung is a crash.
STATUS = {"pass": "pass", "fail": "fail", "skip": "skip", "crash": "crash", "timeout": "crash"}
_AT = re.compile(r"FAILED at (\S+):(\d+)")


class KunitSuite:
    """Built and run on a thread of its own (the runner forks one process per case)."""

    kind = "kunit"

    def __init__(self, backend: NativeBackend, kf: source.KunitFile) -> None:
        self.backend = backend
        self.file = kf
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._results: Future[list[Outcome]] | None = None
        self._running: run.Running | None = None
        self.last: run.KunitRun | None = None  # the KTAP of the run, for `buddy-harness kunit`
        self.error = ""  # the build's error, when the file did not build

    def start(self) -> None:
        """A runner that is built is started here and now (on the backend's opening thread,
        before the cases compete with it for the interpreter); one to build, in the
        background."""
        if self._results is not None:
            return
        try:
            ready = build.cached(self.file, self.backend.build)
            running = self._start(ready) if ready is not None else None
        except Exception:  # the background path meets it again, and words it
            running = None
        self._running = running
        self._results = self._pool.submit(self._run, running)

    def outcomes(self) -> list[Outcome]:
        self.start()
        assert self._results is not None
        return [Outcome(o.case_id, o.params, o.backend, o.status, o.message, file=o.file,
                        line=o.line) for o in self._results.result()]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._running is not None and self._results is not None \
                and self._results.cancelled():
            self._running.end()  # started, and never waited for
            self._running.close()

    def _start(self, runner: build.Runner) -> run.Running:
        return run.start(runner.path, self.backend.build, seed=SETTINGS.seed,
                         skip_slow=SETTINGS.skip_slow, timeout=SETTINGS.timeout,
                         module=source.module_name(self.file))

    def _run(self, running: run.Running | None) -> list[Outcome]:
        kf, name = self.file, self.backend.name
        if running is None:
            try:
                running = self._start(build.build(kf, self.backend.build))
            except build.KunitBuildError as e:
                self.error = str(e)
                skipped = [Outcome(c.id, "", name, "skip", f"not built: {e}", file=kf.rel,
                                   line=c.line) for c in kf.cases]
                return [Outcome(BUILD_ITEM, "", name, "error", str(e), file=kf.rel), *skipped]
        self.last = running.wait()
        return outcomes(kf, self.last, name)


def outcomes(kf: source.KunitFile, got: run.KunitRun, backend: str) -> list[Outcome]:
    """One outcome per case the file declares; one the runner did not report is a crash."""
    by_name = {(r.suite, r.name): r for r in got.results}
    out = []
    for c in kf.cases:
        r = by_name.get((c.suite, c.name))
        if r is None:
            tail = (got.stderr.strip().splitlines() or got.ktap.strip().splitlines() or [""])[-1]
            out.append(Outcome(c.id, "", backend, "crash",
                               f"the KUnit runner stopped before this case: {tail}",
                               file=kf.rel, line=c.line))
            continue
        m = _AT.search(r.message)
        file, line = (m[1], int(m[2])) if m else (kf.rel, c.line)
        out.append(Outcome(c.id, "", backend, STATUS[r.status], r.message, file=file,
                           line=line))
    return out
