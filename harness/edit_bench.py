"""Edit-to-verdict: the time from saving the allocator's source to the corpus's answer.

``buddy-harness bench --edit-to-verdict --backend FAMILY@TREE`` copies the tree
to a scratch directory, runs the corpus once (a developer's loop has run
before), then several times: append a fresh comment to the file a developer
edits (a new build every time, never a cached one), and time a whole
``buddy-harness run --backend FAMILY@SCRATCH -q`` process, start-up, rebuild
and corpus included.  The median is the figure.

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

# kunit.py on UML after the same edit to buddy.c (its 12 cases), measured alternately with
# the harness on the project's 2-core machine: the loop this one is compared with.
KUNIT_SECONDS = 12.5
TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class EditTarget:
    """How to find a family's tree and the file a developer edits in it."""

    tree: Callable[[str, str | None], Path]  # (backend name, --kernel-src) -> tree root
    source: Callable[[Path], Path]  # tree root -> the file to edit
    comment: str  # a line the file's language ignores; {n} makes each edit new


def _kernel_tree(name: str, kernel_src: str | None) -> Path:
    """The kernel tree ``FAMILY@PATH`` or ``FAMILY@VERSION`` names, for any family."""
    from harness.backends.native import resolve_tree

    return resolve_tree(name, kernel_src, log=lambda _: None).root


def _native_source(root: Path) -> Path:
    from harness.backends.native.tree import inspect

    return inspect(root).source


TARGETS: dict[str, EditTarget] = {
    "native": EditTarget(_kernel_tree, _native_source, "/* edit-to-verdict {n} */\n"),
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


def measure(name: str, *, kernel_src: str | None, specs: list[str], runs: int,
            jobs: int | None, log: Callable[[str], None]) -> list[Sample]:
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
        cmd = [sys.executable, "-m", "harness", "run", "--backend", f"{family}@{copy}", "-q"]
        for d in specs:
            cmd += ["--specs", str(Path(d).resolve())]
        if jobs:
            cmd += ["--jobs", str(jobs)]
        _run(cmd)  # warm-up: the unchanged units and the corpus are as a previous loop left them
        samples = []
        for n in range(runs):
            with source.open("a") as f:
                f.write(target.comment.format(n=f"{n} {time.time_ns()}"))
            samples.append(_run(cmd))
            s = samples[-1]
            log(f"  run {n + 1}: {s.seconds:.2f} s wall (exit {s.code}; {s.summary})")
        return samples
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(cmd: list[str]) -> Sample:
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(Path(harness.__file__).resolve().parent.parent),
         *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    built = re.search(r"allocator of Linux \S+ in ([\d.]+) s", p.stderr)
    corpus = re.search(r"backend\(s\) in ([\d.]+)s", p.stdout)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()[-200:]
    return Sample(took, p.returncode, float(built[1]) if built else None,
                  float(corpus[1]) if corpus else None, last)


def report(name: str, samples: list[Sample], out: Callable[[str], None]) -> int:
    walls = [s.seconds for s in samples]
    med = statistics.median(walls)
    builds = [s.build for s in samples if s.build is not None]
    corpora = [s.corpus for s in samples if s.corpus is not None]
    out(f"edit-to-verdict on {name}: median {med:.2f} s wall over {len(walls)} edits "
        f"(min {min(walls):.2f}, max {max(walls):.2f}); target {TARGET_SECONDS:.1f} s")
    if builds and corpora:
        out(f"  of which rebuild {statistics.median(builds):.2f} s, corpus "
            f"{statistics.median(corpora):.2f} s (medians); the rest is start-up and loading")
    out(f"  KUnit after the same edit (kunit.py on UML, 12 cases): {KUNIT_SECONDS:.1f} s, "
        f"{KUNIT_SECONDS / med:.1f}x as long")
    bad = [s for s in samples if s.code != 0]
    if bad:
        out(f"  {len(bad)} run(s) did not pass: {bad[0].summary}")
        return 1
    return 0
