"""``buddy-harness watch``: rerun what a saved file affects, print only verdicts that changed.

Watched: each backend's tree (the allocator's C and header, and the Rust
binding ``rust/kernel/gpu/buddy.rs`` for the families built from it) and the
spec directories.  A saved tree file rebuilds that backend and reruns the
corpus on it; a saved case file reruns its cases on every backend; a saved
expectation file re-judges everything.  File events come from watchdog
(inotify on Linux), so an idle watch costs nothing.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from harness import baseline, expectations, options, parallel, procs
from harness.backends.base import BackendUnavailable, CoreBackend
from harness.backends.registry import resolve
from harness.commands.common import (
    add_backend_options,
    add_specs_option,
    default_backends,
    log,
    specs_dirs,
)
from harness.engine.trace import Outcome
from harness.judge import EXPECTED, Judge
from harness.runner import (
    select,
    specs_roots,
    start_suites,
    suite_outcomes,
    summary,
    summary_line,
)
from harness.spec.cache import load_paths_cached
from harness.spec.model import Case

BINDING = "rust/kernel/gpu/buddy.rs"
SETTLE = 0.15  # seconds of quiet after an event: an editor's save is several events
Key = tuple[str, str, str]  # case, params, backend
WRITES = frozenset({"created", "modified", "moved", "deleted", "closed"})


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_specs_option(p)
    add_backend_options(p, default_help="default as for run")
    p.add_argument("-k", dest="keyword", default=None, metavar="TEXT",
                   help="only cases whose id, title or params contain TEXT")
    baseline.add_expect_as_option(p)
    p.add_argument("-j", "--jobs", type=options.count, default=None, metavar="N",
                   help="worker processes per native backend (default: one per core)")


def tree_files(backend: CoreBackend) -> set[Path]:
    """The files of a backend's tree whose change changes the backend."""
    tree = backend.tree
    if tree is None:
        return set()
    files = {Path(tree.source).resolve(), Path(tree.header).resolve()}
    if backend.own_binding:
        files.add((Path(tree.root) / BINDING).resolve())  # a family built from the binding
    else:
        from harness.kunit import source

        kf = source.find(tree)  # the tree's KUnit file and its helpers are items too
        if kf is not None:
            files |= {(Path(tree.root) / r).resolve() for r in (kf.rel, *kf.helpers)}
    return files


@dataclass(frozen=True)
class WatchRequest:
    """What a watch was asked for, read from its options once (:meth:`from_options`)."""

    dirs: list[Path]  # the spec directories (a --specs file stands for its directory)
    names: list[str]  # the backends
    kernel_src: str | None = None
    sanitize: bool = False
    timeout: float = 10.0
    keyword: str | None = None  # -k: only cases whose id, title or params contain it
    expect_as: str | None = None
    jobs: int | None = None  # worker processes per native backend; None: one per core

    @classmethod
    def from_options(cls, ns: argparse.Namespace) -> WatchRequest:
        return cls(dirs=[d if d.is_dir() else d.parent for d in specs_dirs(ns)],
                   names=default_backends(ns), kernel_src=ns.kernel_src,
                   sanitize=ns.native_sanitize, timeout=ns.timeout, keyword=ns.keyword,
                   expect_as=ns.expect_as, jobs=ns.jobs)


@dataclass
class Watcher:
    """The state between saves: open backends, loaded cases, the last verdict of each."""

    request: WatchRequest
    backends: dict[str, CoreBackend] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    verdicts: dict[Key, Outcome] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return self.request.names

    @property
    def dirs(self) -> list[Path]:
        return self.request.dirs

    # -- opening ------------------------------------------------------------
    def _resolve(self, name: str, log: Callable[[str], None]) -> CoreBackend:
        r = self.request
        return resolve(name, kernel_src=r.kernel_src, sanitize=r.sanitize, timeout=r.timeout,
                       log=log)

    def open(self, name: str) -> str | None:
        """(Re)open ``name``; what went wrong, in one line, if it cannot be opened."""
        self.close(name)
        try:
            b = self._resolve(name, log)
        except BackendUnavailable as e:  # e.g. the edit does not compile: say so, keep watching
            return f"{name}: {e}"
        self.backends[name] = b
        return None

    def close(self, name: str | None = None) -> None:
        for n in [name] if name else list(self.backends):
            b = self.backends.pop(n, None)
            if b is not None:
                b.close()

    def load(self) -> bool:
        loaded = load_paths_cached(self.dirs)
        for err in loaded.errors:
            print(err, flush=True)
        self.cases = loaded.cases
        return not loaded.errors

    # -- running ------------------------------------------------------------
    def run(self, names: list[str], files: set[str] | None = None) -> list[Outcome]:
        """Run the selected cases (of ``files`` only, if given) on ``names``."""
        keyword = self.request.keyword
        todo = [(c, ps) for c, ps in select(self.cases, keyword)
                if files is None or str(Path(c.file).resolve()) in files]
        out: list[Outcome] = []
        for name in names:
            b = self.backends.get(name)
            if b is None:
                continue
            judge = Judge.of(b, specs_roots(self.dirs), self.request.expect_as, name=name)
            again = partial(self._resolve, name, lambda _: None)
            if files is None:
                start_suites(b, keyword)  # the tree's suites (KUnit...), beside the cases
            out += parallel.run_corpus(todo, b, judge,
                                       jobs=self.request.jobs or parallel.default_jobs(),
                                       reopen=again, remember=True)
            if files is None:
                out += [v for v, _ in suite_outcomes(b, judge, keyword)]
        return out

    def record(self, outcomes: list[Outcome], scope: set[Key] | None) -> list[str]:
        """Store the new verdicts; one line per verdict that changed (or appeared, or went)."""
        lines = []
        fresh = {(o.case_id, o.params, o.backend): o for o in outcomes}
        for key in sorted(set(fresh) | (scope or set())):
            old, new = self.verdicts.get(key), fresh.get(key)
            if new is None:
                if old is not None:
                    del self.verdicts[key]
                    lines.append(f"{_name(key)}: {old.status} -> gone")
                continue
            self.verdicts[key] = new
            if old is None or old.status != new.status or (
                    new.status not in EXPECTED and old.message != new.message):
                was = old.status if old is not None else "new"
                tail = f": {new.message[:300]}" if new.status != "pass" else ""
                lines.append(f"{_name(key)}: {was} -> {new.status}{tail}")
        return lines

    def handle(self, changed: set[Path]) -> list[str]:
        """React to saved files: the lines to print (changed verdicts, then a summary)."""
        changed = {p.resolve() for p in changed}
        roots = [d.resolve() for d in self.dirs]
        specs = {p for p in changed if p.suffix in (".yaml", ".yml")
                 and any(r == p or r in p.parents for r in roots)}
        rebuilt = [n for n, b in list(self.backends.items()) if tree_files(b) & changed]
        rebuilt += [n for n in self.names if n not in self.backends]  # failed to open before
        if not specs and not rebuilt:
            return []
        lines: list[str] = []
        t0 = time.monotonic()
        for name in dict.fromkeys(rebuilt):
            error = self.open(name)
            if error:
                lines += [error, f"{name}: not rebuilt; earlier verdicts kept"]
        if specs:
            self.load()
        judged_again = any(expectations.EXPECTATIONS_DIR in p.parts for p in specs)
        if judged_again or rebuilt:
            names = list(self.backends) if judged_again else [n for n in rebuilt
                                                              if n in self.backends]
            lines += self.record(self.run(names), self._scope(names))
        if specs and not judged_again:
            others = [n for n in self.backends if n not in rebuilt]
            files = {str(p) for p in specs}
            scope = {k for k, o in self.verdicts.items()
                     if k[2] in others and str(Path(o.file).resolve()) in files}
            lines += self.record(self.run(others, files), scope)
        n = sum(" -> " in line for line in lines)
        s = summary(list(self.verdicts.values()))
        lines.append(f"{n or 'no'} verdict(s) changed in {time.monotonic() - t0:.1f}s; "
                     f"now {summary_line(s)}")
        return lines

    def _scope(self, names: list[str]) -> set[Key]:
        return {k for k in self.verdicts if k[2] in names}


def _name(key: Key) -> str:
    case, params, backend = key
    return f"{case}{f'[{params}]' if params else ''} on {backend}"


def watched_dirs(w: Watcher) -> dict[Path, bool]:
    """Directory -> recursive, for the observer."""
    out: dict[Path, bool] = {d.resolve(): True for d in w.dirs}
    for b in w.backends.values():
        for f in tree_files(b):
            if f.parent.is_dir():
                out.setdefault(f.parent, False)
        tree = b.tree
        if tree is not None and (Path(tree.root) / BINDING).parent.is_dir():
            out.setdefault((Path(tree.root) / BINDING).parent.resolve(), False)
    return out


def run(ns: argparse.Namespace) -> int:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    w = Watcher(WatchRequest.from_options(ns))
    events: queue.Queue[Path] = queue.Queue()

    class Saved(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # Only writes: reading a file (the compiler, the loader) is an event too.
            if event.is_directory or event.event_type not in WRITES:
                return
            for p in (event.src_path, getattr(event, "dest_path", "")):
                if p:  # editors save by writing a temporary file and renaming it
                    events.put(Path(p if isinstance(p, str) else p.decode()))

    observer = Observer()
    try:
        w.load()
        for name in w.names:
            error = w.open(name)
            if error:
                print(error, flush=True)
        first = w.run(list(w.backends))
        w.record(first, None)
        for o in first:
            if o.status not in EXPECTED:
                print(f"{_name((o.case_id, o.params, o.backend))}: {o.status}: "
                      f"{o.message[:300]}")
        for d, recursive in watched_dirs(w).items():
            observer.schedule(Saved(), str(d), recursive=recursive)
        observer.start()
        print(f"{summary_line(summary(first))}; watching "
              f"{', '.join(str(d) for d in watched_dirs(w))} (Ctrl-C stops)", flush=True)
        while True:
            try:
                changed = {events.get(timeout=0.5)}  # short waits keep Ctrl-C prompt
            except queue.Empty:
                continue
            deadline = time.monotonic() + SETTLE
            while (left := deadline - time.monotonic()) > 0:
                try:
                    changed.add(events.get(timeout=left))
                    deadline = time.monotonic() + SETTLE
                except queue.Empty:
                    break
            for line in w.handle(changed):
                print(line, flush=True)
    except KeyboardInterrupt as e:
        print("watch: stopped", file=sys.stderr)
        return procs.exit_code(e)
    finally:
        observer.stop()
        w.close()
