"""Run a corpus on several instances of one backend at once, results in corpus order.

A backend whose allocator lives in a worker process (native, and any backend
that has a ``worker``) spends most of a case waiting on the pipe: the engine
sends a line, the worker answers.  With one instance per core, each driven
by a thread of its own (the GIL is free while a thread waits on its worker),
the corpus runs in parallel on every core.  In-process backends (the
reference) gain nothing from threads and run serially.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness import lastrun
from harness.backends.base import CoreBackend
from harness.cachedir import prune
from harness.engine import run_case
from harness.engine.trace import Outcome
from harness.lastrun import LastRun, Run
from harness.spec.model import Case, ParamSet

if TYPE_CHECKING:
    from harness.judge import Judge

Item = tuple[Case, ParamSet]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def out_of_process(backend: CoreBackend) -> bool:
    return backend.out_of_process


def instances(backend: CoreBackend, jobs: int, reopen: Callable[[], CoreBackend],
              items: int) -> list[CoreBackend]:
    """``backend`` plus the extra instances worth opening for ``jobs`` threads."""
    if jobs <= 1 or items < 2 or not out_of_process(backend):
        return [backend]
    return [backend, *(reopen() for _ in range(min(jobs, items) - 1))]


def run_corpus(todo: list[Item], backend: CoreBackend, judge: Judge, *, jobs: int,
               reopen: Callable[[], CoreBackend], engine: Run = run_case,
               remember: bool = False) -> Iterator[Outcome]:
    """Every verdict of ``todo`` on ``backend``, in order, using ``jobs`` cores.

    ``engine`` gives each raw outcome, predicted from the last run and, with ``remember``,
    remembered from it where nothing changed (:mod:`harness.lastrun`: its outcomes carry no
    step traces); ``judge`` gives the verdict.  With more than one instance, the cases
    that took longest on the previous run of this backend start first (one case, the
    slab-budget ``oom``, takes most of a second: started last, it would keep one core busy
    after the other is done).
    """
    extra = instances(backend, jobs, reopen, len(todo))[1:]
    last = LastRun.load(backend, remember=remember)
    raw = last.around(engine)

    def run(case: Case, ps: ParamSet, b: CoreBackend) -> Outcome:
        return judge.verdict(raw(case, ps, b))

    if not extra:
        try:
            yield from run_in_order(todo, [backend], run)
        finally:
            last.save()
        return
    name = backend.name
    past = load_timings(name)
    took: dict[str, float] = {}

    def timed(case: Case, ps: ParamSet, b: CoreBackend) -> Outcome:
        t0 = time.perf_counter()
        try:
            return run(case, ps, b)
        finally:
            took[_key((case, ps))] = time.perf_counter() - t0

    try:
        yield from run_in_order(todo, [backend, *extra], timed,
                                lambda it: past.get(_key(it), 0.0))
    finally:
        for b in extra:
            b.close()
        last.save()
    save_timings(name, past | took)


def _key(item: Item) -> str:
    return lastrun.key(*item)


def _timings_file(name: str) -> Path:
    from harness.trees.kernels import cache_root

    return cache_root() / "timings" / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.json"


def load_timings(name: str) -> dict[str, float]:
    """Seconds per case on the last run of the backend ``name`` (empty if none)."""
    try:
        data = json.loads(_timings_file(name).read_text())
        return {k: float(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_timings(name: str, timings: dict[str, float]) -> None:
    path = _timings_file(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: round(v, 4) for k, v in timings.items()}))
        os.replace(tmp, path)
    except OSError:
        pass  # only the order of the next run depends on it
    prune(path.parent, "*.json")


def run_in_order(todo: list[Item], backends: list[CoreBackend],
                 run: Callable[[Case, ParamSet, CoreBackend], Outcome],
                 first: Callable[[Item], float] | None = None) -> Iterator[Outcome]:
    """Each outcome of ``todo`` in order, as soon as it and those before it are done.

    ``first`` ranks items: higher starts earlier (the slowest first, so no core is left
    finishing one long case at the end); the output order stays the corpus order.
    """
    if len(backends) == 1:
        for case, ps in todo:
            yield run(case, ps, backends[0])
        return
    results: list[Outcome | BaseException | None] = [None] * len(todo)
    done = [False] * len(todo)
    finished = threading.Condition()  # one for all items: an Event each costs more than it
    lock = threading.Lock()
    order = list(range(len(todo)))
    if first is not None:
        order.sort(key=lambda i: -first(todo[i]))
    state = {"next": 0, "stop": False}

    def work(backend: CoreBackend) -> None:
        while True:
            with lock:
                k = state["next"]
                if k >= len(order) or state["stop"]:
                    return
                state["next"] = k + 1
                i = order[k]
            try:
                results[i] = run(*todo[i], backend)
            except BaseException as e:  # handed to the caller's thread, which raises it
                results[i] = e
            with finished:
                done[i] = True
                finished.notify_all()

    threads = [threading.Thread(target=work, args=(b,), daemon=True) for b in backends]
    for t in threads:
        t.start()
    try:
        for i in range(len(todo)):
            with finished:
                while not done[i]:
                    finished.wait(0.2)  # short waits keep Ctrl-C responsive
            r = results[i]
            if isinstance(r, BaseException):
                raise r
            assert r is not None
            yield r
    finally:
        state["stop"] = True
