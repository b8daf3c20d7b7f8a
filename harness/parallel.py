"""Run a corpus on several instances of one backend at once, results in corpus order.

A backend whose allocator lives in a worker process (native, and any backend
that has a ``worker``) spends most of a case waiting on the pipe: the engine
sends a line, the worker answers.  With one instance per core, each driven
by a thread of its own (the GIL is free while a thread waits on its worker),
the corpus runs in parallel on every core.  In-process backends (the
reference) gain nothing from threads and run serially.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

from harness.backends.base import CoreBackend
from harness.engine.trace import Outcome
from harness.spec.model import Case, ParamSet

Item = tuple[Case, ParamSet]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def out_of_process(backend: CoreBackend) -> bool:
    return callable(getattr(backend, "worker", None))


def instances(backend: CoreBackend, jobs: int, reopen: Callable[[], CoreBackend],
              items: int) -> list[CoreBackend]:
    """``backend`` plus the extra instances worth opening for ``jobs`` threads."""
    if jobs <= 1 or items < 2 or not out_of_process(backend):
        return [backend]
    return [backend, *(reopen() for _ in range(min(jobs, items) - 1))]


def run_in_order(todo: list[Item], backends: list[CoreBackend],
                 run: Callable[[Case, ParamSet, CoreBackend], Outcome]) -> Iterator[Outcome]:
    """Each outcome of ``todo`` in order, as soon as it and those before it are done."""
    if len(backends) == 1:
        for case, ps in todo:
            yield run(case, ps, backends[0])
        return
    results: list[Outcome | BaseException | None] = [None] * len(todo)
    done = [threading.Event() for _ in todo]
    lock = threading.Lock()
    state = {"next": 0, "stop": False}

    def work(backend: CoreBackend) -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= len(todo) or state["stop"]:
                    return
                state["next"] = i + 1
            try:
                results[i] = run(*todo[i], backend)
            except BaseException as e:  # handed to the caller's thread, which raises it
                results[i] = e
            done[i].set()

    threads = [threading.Thread(target=work, args=(b,), daemon=True) for b in backends]
    for t in threads:
        t.start()
    try:
        for i in range(len(todo)):
            while not done[i].wait(0.2):  # short waits keep Ctrl-C responsive
                pass
            r = results[i]
            if isinstance(r, BaseException):
                raise r
            assert r is not None
            yield r
    finally:
        state["stop"] = True
