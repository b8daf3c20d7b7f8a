"""Edit-to-verdict: the time from saving the allocator's source to the corpus's answer.

``buddy-harness bench --edit-to-verdict --backend FAMILY@TREE`` copies the tree
to a scratch directory, runs the corpus once (a developer's loop has run
before), then several times: append a fresh comment to the file a developer
edits (a new build every time, never a cached one), and time a whole
``buddy-harness run --backend FAMILY@SCRATCH -q`` process, start-up, rebuild,
corpus and (on ``native@``) the tree's own KUnit suite included.  The median is
the figure.

With ``--kunit-uml FULL-TREE`` the same edit is made to a full kernel tree's
``buddy.c`` too and ``tools/testing/kunit/kunit.py run`` is timed on UML after it,
alternating with the harness, so both figures come from the same minutes of the
same machine; the file is restored afterwards.  Without it, KUnit's figure is the
recorded one, printed with its date and machine.

Python's bytecode: a developer's Python keeps the harness compiled in ``__pycache__``
after its first run.  Where this one writes none (``PYTHONDONTWRITEBYTECODE``, as CI
machines often set), every timed run would compile the harness's modules again, a cost
no developer's loop has: the runs then keep their bytecode in the scratch directory
(``PYTHONPYCACHEPREFIX``), and the bench says so with the start-up it measured each way.

An edit that only adds a comment changes nothing the corpus sees: every reply of the C is
the same, so each case's outcome is the one remembered from the last run
(:mod:`harness.lastrun`) and only the KUnit suite and the crashing cases run.  So that the
figure of an edit that does change the C is printed too, a family may name edits that
each make one plausible slip (:mod:`harness.slips`) in the file: after the comment edits, a
run is timed after each such edit, and their median is printed with the outcomes the runs
remembered.

Which file is edited, and how a backend name becomes a tree, is per backend
family (:data:`TARGETS`); a family with a tree of its own (``rust@PATH`` after
an edit to ``rust/kernel/gpu/buddy.rs``) has an :class:`EditTarget` of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.backends.names import BackendRef

TARGET_SECONDS = 1.5
# kunit.py on UML after an edit to buddy.c (7.2, its 12 cases), as recorded once; printed as
# such, never as this run's.
RECORDED_KUNIT = (5.8, "2026-12-02", "the project's 2-core machine, quiet (median; 5.6 to "
                  "6.5 s; kunit.py cold: 494 s under load)")
# What kunit.py needs to build the allocator's suite: GPU_BUDDY has no prompt, so something
# that selects it (the TTM tests) and the suite's own option.
KUNITCONFIG = ("CONFIG_KUNIT=y\nCONFIG_DRM=y\nCONFIG_DRM_TTM_KUNIT_TEST=y\n"
               "CONFIG_GPU_BUDDY_KUNIT_TEST=y\n")


@dataclass(frozen=True)
class EditTarget:
    """How to find a family's tree and the file a developer edits in it."""

    tree: Callable[[str, str | None], Path]  # (backend name, --kernel-src) -> tree root
    source: Callable[[Path], Path]  # tree root -> the file to edit
    comment: str  # a line the file's language ignores; {n} makes each edit new
    # the file's text -> texts that each change what it does (None: not measured)
    changes: Callable[[str], list[str]] | None = None


def _kernel_tree(name: str, kernel_src: str | None) -> Path:
    """The kernel tree ``FAMILY@PATH`` or ``FAMILY@VERSION`` names, for any family."""
    from harness.trees import resolve_tree

    return resolve_tree(name, kernel_src, log=lambda _: None).root


def _native_source(root: Path) -> Path:
    from harness.trees.tree import inspect

    return inspect(root).source


def _slips(text: str) -> list[str]:
    """The C with each of the harness's deliberate slips that applies to it."""
    from harness import slips

    return [t for v in slips.VARIANTS if (t := slips.slipped(text, v)) not in (None, text)]


TARGETS: dict[str, EditTarget] = {
    "native": EditTarget(_kernel_tree, _native_source, "/* edit-to-verdict {n} */\n",
                         _slips),
    # Timed through `buddy-harness run --backend rust@SCRATCH`, once that backend is there.
    "rust": EditTarget(_kernel_tree, lambda root: root / "rust/kernel/gpu/buddy.rs",
                       "// edit-to-verdict {n}\n"),
}


@dataclass
class Sample:
    seconds: float
    code: int
    build: float | None  # what the run said the rebuild took
    corpus: float | None  # what the run said the corpus took
    summary: str
    remembered: int = 0  # outcomes as on the last run (harness.lastrun)


@dataclass
class Measured:
    samples: list[Sample]  # after each comment edit
    kunit: list[float]  # kunit.py's seconds after the same edits, if asked
    changed: list[Sample]  # after each edit that changes the code, if the family has some


def measure(name: str, *, kernel_src: str | None, specs: list[str], runs: int,
            jobs: int | None, log: Callable[[str], None],
            kunit_uml: Path | None = None) -> Measured:
    family = BackendRef(name).family
    if family not in TARGETS:
        raise ValueError(f"--edit-to-verdict knows {', '.join(sorted(TARGETS))}, not {family}")
    target = TARGETS[family]
    tree = target.tree(name, kernel_src)
    scratch = Path(tempfile.mkdtemp(prefix="buddy-harness-edit-"))
    try:
        copy = scratch / "tree"
        shutil.copytree(tree, copy, symlinks=True)
        source = target.source(copy)
        log(f"edit-to-verdict: {tree} copied to {copy}; editing {source.relative_to(copy)}")
        corpus = [a for d in specs for a in ("--specs", str(Path(d).resolve()))]
        cmd = [sys.executable, "-m", "harness", "run", "--backend", f"{family}@{copy}", "-q",
               *corpus]
        if jobs:
            cmd += ["--jobs", str(jobs)]
        env = _bytecode_env(scratch, corpus, log)
        _run(cmd, env)  # warm-up: the unchanged units, the corpus and the bytecode are as a
        # previous loop left them
        uml = _Uml(kunit_uml, scratch, log) if kunit_uml is not None else None
        samples: list[Sample] = []
        kunit: list[float] = []
        try:
            if uml is not None:
                uml.run()  # its warm-up: a first build of the kernel
            for n in range(runs):
                comment = target.comment.format(n=f"{n} {time.time_ns()}")
                with source.open("a") as f:
                    f.write(comment)
                samples.append(_run(cmd, env))
                s = samples[-1]
                log(f"  run {n + 1}: {s.seconds:.2f} s wall (exit {s.code}; {s.summary})")
                if uml is not None:
                    uml.edit(comment)
                    kunit.append(uml.run())
                    log(f"  kunit.py {n + 1}: {kunit[-1]:.2f} s wall")
        finally:
            if uml is not None:
                uml.restore()
        changed = _changed_runs(target, source, cmd, env, runs, log)
        return Measured(samples, kunit, changed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _changed_runs(target: EditTarget, source: Path, cmd: list[str], env: dict[str, str],
                  runs: int, log: Callable[[str], None]) -> list[Sample]:
    """Runs after an edit each that changes the code (one that does not build is passed
    over), the file restored afterwards."""
    if target.changes is None:
        return []
    original = source.read_text()
    out: list[Sample] = []
    try:
        for text in target.changes(original):
            if len(out) == runs:
                break
            source.write_text(text)
            s = _run(cmd, env)
            if s.corpus is None:
                continue  # it did not build: no verdict to time
            out.append(s)
            log(f"  changed {len(out)}: {s.seconds:.2f} s wall (exit {s.code}; "
                f"{s.remembered} outcomes remembered; {s.summary})")
    finally:
        source.write_text(original)
    return out


class _Uml:
    """kunit.py on UML in a full tree, after the same edit to its buddy.c."""

    def __init__(self, root: Path, scratch: Path, log: Callable[[str], None]) -> None:
        from harness.trees.tree import inspect

        self.root = Path(root)
        tool = self.root / "tools/testing/kunit/kunit.py"
        if not tool.is_file():
            raise ValueError(f"--kunit-uml {root}: not a full kernel tree (no "
                             "tools/testing/kunit/kunit.py)")
        self.source = inspect(self.root).source
        self.original = self.source.read_bytes()
        (scratch / ".kunitconfig").write_text(KUNITCONFIG)
        self.cmd = [sys.executable, str(tool), "run", f"--kunitconfig={scratch / '.kunitconfig'}",
                    f"--build_dir={scratch / 'uml'}", f"--jobs={os.cpu_count() or 1}",
                    "gpu_buddy"]
        log(f"edit-to-verdict: kunit.py on UML in {self.root}, build in {scratch / 'uml'}")

    def edit(self, comment: str) -> None:
        with self.source.open("a") as f:
            f.write(comment)

    def run(self) -> float:
        t0 = time.perf_counter()
        p = subprocess.run(self.cmd, cwd=self.root, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if p.returncode != 0:
            tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
            raise ValueError(f"kunit.py failed (exit {p.returncode}): {' | '.join(tail)}")
        return took

    def restore(self) -> None:
        self.source.write_bytes(self.original)


def _child_env() -> dict[str, str]:
    """This environment, with this harness first on the path of the runs."""
    return os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(Path(harness.__file__).resolve().parent.parent),
         *filter(None, [os.environ.get("PYTHONPATH")])])}


def _bytecode_env(scratch: Path, corpus: list[str],
                  log: Callable[[str], None]) -> dict[str, str]:
    """The runs' environment; with bytecode of their own if this Python writes none (module
    docstring), said with the start-up measured both ways."""
    env = _child_env()
    if not sys.dont_write_bytecode:
        return env
    kept = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    kept["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    # A run that selects nothing: the start-up, imports and corpus loading of a run.
    probe = [sys.executable, "-m", "harness", "run", "--backend", "reference", "-k",
             "edit-to-verdict: no such case", *corpus]
    subprocess.run(probe, env=kept, capture_output=True)  # writes the bytecode once
    without = statistics.median(_seconds(probe, env) for _ in range(3))
    with_ = statistics.median(_seconds(probe, kept) for _ in range(3))
    log(f"edit-to-verdict: this Python writes no bytecode (PYTHONDONTWRITEBYTECODE); the runs "
        f"keep theirs in the scratch directory, as a developer's Python keeps __pycache__ "
        f"(start-up of a run selecting nothing, median of 3: {without:.2f} s compiling every "
        f"module, {with_:.2f} s with bytecode)")
    return kept


def _seconds(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True)
    return time.perf_counter() - t0


def _run(cmd: list[str], env: dict[str, str]) -> Sample:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    built = re.search(r"allocator of Linux \S+ in ([\d.]+) s", p.stderr)
    corpus = re.search(r"backend\(s\) in ([\d.]+)s", p.stdout)
    remembered = re.search(r"\((\d+) outcomes as on the last run", p.stdout)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()[-200:]
    return Sample(took, p.returncode, float(built[1]) if built else None,
                  float(corpus[1]) if corpus else None, last,
                  int(remembered[1]) if remembered else 0)


def report(name: str, m: Measured, out: Callable[[str], None]) -> int:
    samples, kunit = m.samples, m.kunit
    walls = [s.seconds for s in samples]
    med = statistics.median(walls)
    builds = [s.build for s in samples if s.build is not None]
    corpora = [s.corpus for s in samples if s.corpus is not None]
    out(f"edit-to-verdict on {name}: median {med:.2f} s wall over {len(walls)} edits "
        f"(min {min(walls):.2f}, max {max(walls):.2f}); target {TARGET_SECONDS:.1f} s")
    if builds and corpora:
        out(f"  of which rebuild {statistics.median(builds):.2f} s, corpus "
            f"{statistics.median(corpora):.2f} s (medians); the rest is start-up and loading")
    out(f"  each a comment: {statistics.median(s.remembered for s in samples):.0f} outcomes "
        "remembered from the last run (median), every reply of the C the same")
    if m.changed:
        w = [s.seconds for s in m.changed]
        out(f"  after {len(w)} edits that each make one slip (harness/slips.py): median "
            f"{statistics.median(w):.2f} s wall (min {min(w):.2f}, max {max(w):.2f}); "
            f"{statistics.median(s.remembered for s in m.changed):.0f} outcomes remembered "
            "(median), the rest through the engine")
    if kunit:
        k = statistics.median(kunit)
        out(f"  kunit.py on UML after the same edits (measured in this run, alternating): "
            f"median {k:.2f} s (min {min(kunit):.2f}, max {max(kunit):.2f}), {k / med:.1f}x as "
            "long")
    else:
        k, date, machine = RECORDED_KUNIT
        out(f"  kunit.py on UML after an edit: {k:.1f} s as recorded on {date} on {machine}, "
            f"not measured here (--kunit-uml FULL-TREE measures it); {k / med:.1f}x as long")
    bad = [s for s in samples if s.code != 0]
    if bad:
        out(f"  {len(bad)} run(s) did not pass: {bad[0].summary}")
        return 1
    return 0
