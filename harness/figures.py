"""The speed figures of the documentation, measured by the commands that print them.

Each :class:`Figure` is a ``buddy-harness`` command line and the lines of its
output that state the figure.  ``bench --figures FILE`` runs them one after the
other, times each (wall, and the CPU of every process it started), and writes
the table into FILE between two markers, with the date, the machine's cores
and its load average before and after each command: a reader sees when a
figure was taken on a busy machine.  ``tests/test_figures.py`` holds the page
to this table, so a figure in it is one a command wrote, never a hand copy.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.parallel import default_jobs
from harness.results.render import render

BEGIN = "<!-- buddy-harness bench --figures -->"
END = "<!-- end of bench --figures -->"
_ROW = re.compile(r"^\| `([^`|]+)` \|.*$", re.M)


@dataclass(frozen=True)
class Figure:
    key: str
    what: str
    argv: tuple[str, ...]  # buddy-harness's arguments
    keep: str  # a regular expression: the output lines that state the figure
    repeat: int = 1  # runs; the wall time shown is their median
    cold: bool = False  # in an empty cache (the fetched kernel trees linked in)
    goal: str = ""  # what the project promises, where it does


FIGURES: tuple[Figure, ...] = (
    Figure("run-reference", "whole corpus, reference backend", ("run", "--backend", "reference",
           "-q"), r"items x|passed", repeat=3),
    Figure("run-native", "whole corpus and the KUnit suite, native@7.2 (cached build)",
           ("run", "--backend", "native@7.2", "-q"), r"items x|passed", repeat=3),
    Figure("run-rust", "binding-layer corpus, doc examples and lints, rust@7.2 (cached)",
           ("run", "--backend", "rust@7.2", "-q"), r"items x|passed", repeat=3,
           goal="the lints add at most 2 s to a warm run"),
    Figure("run-main", "the main job: reference, the cached kernels and rust@7.2", ("run", "-q"),
           r"items x|passed", repeat=3),
    Figure("check", "check specs: load, validate, quotes against 7.2", ("check", "specs"),
           r"."),
    Figure("edit-native", "edit buddy.c, rebuild, corpus + KUnit verdict (native@PATH)",
           ("bench", "--edit-to-verdict", "--backend", "native@7.2", "--runs", "5"),
           r"^edit-to-verdict on|of which|each a comment|make one slip|^kunit\.py",
           goal="<= 1.5 s on a quiet machine"),
    Figure("edit-rust", "edit buddy.rs, rebuild, binding corpus + doc examples + lints",
           ("bench", "--edit-to-verdict", "--backend", "rust@7.2", "--runs", "3"),
           r"^edit-to-verdict on|of which"),
    Figure("kunit", "the tree's KUnit suite alone, native@7.2",
           ("kunit", "--backend", "native@7.2"), r"KUnit cases in"),
    Figure("export-kunit", "export kunit of the whole core-layer corpus",
           ("export", "kunit", "*"), r"^exported", goal="< 10 s"),
    Figure("fuzz-native", "core fuzz, reference vs native@7.2, one process",
           ("fuzz", "--backend", "reference", "--backend", "native@7.2", "--seconds", "20",
            "--seed", "1", "--jobs", "1"), r"divergence"),
    Figure("fuzz-rust", "binding fuzz, model over reference vs rust@7.2, one process",
           ("fuzz", "--backend", "reference", "--backend", "rust@7.2", "--seconds", "30",
            "--seed", "11", "--jobs", "1"), r"divergence", goal=">= 20,000 ops/s"),
    Figure("mutate-native", "mutation testing of 7.2's buddy.c, 2 processes",
           ("mutate", "--backend", "native@7.2", "--jobs", "2"),
           r"^mutate native@|^mutate: [0-9.]+ s,", goal="within 60 s on 2 cores"),
    Figure("mutate-rust", "mutation testing of 7.2's buddy.rs from an empty cache",
           ("mutate", "--backend", "rust@7.2", "--jobs", "2"),
           r"^mutate rust@|^mutate: [0-9.]+ s,", cold=True, goal="within 5 minutes on 2 cores"),
    Figure("cover", "line and branch coverage of 7.2 by the corpus",
           ("cover", "--backend", "native@7.2"), r"^TOTAL"),
    Figure("pairs", "pairs of input classes on 7.2", ("cover", "--pairs", "--backend",
           "native@7.2"), r"^pairs of input classes", goal="< 5 s warm"),
    Figure("docs", "documented sentences of 7.2 held", ("docs", "--tree", "7.2"),
           r"^sentences:|^normative|^documented items"),
    Figure("docs-extract", "the tree's kernel-doc and rustdoc read, 7.2",
           ("docs", "--no-run", "--tree", "7.2"), r"^documented items"),
    Figure("bench-reference", "the reference allocator's own speed and memory", ("bench",), r"."),
    Figure("bench-native", "the C through its worker: start-up, round trips, batches",
           ("bench", "--backend", "native@7.2"), r"."),
    Figure("bench-rust", "the real binding against the C, and its thread stress",
           ("bench", "--backend", "rust@7.2"), r"."),
)


@dataclass
class Measured:
    figure: Figure
    lines: list[str]
    walls: list[float]
    cpu: float  # seconds of CPU of every process the runs started
    exit: int
    load: tuple[float, float]  # 1-minute load average before and after
    when: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


@dataclass(frozen=True)
class Machine:
    cores: int
    system: str
    python: str


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> Machine:
    return Machine(default_jobs(), f"{platform.system()} {platform.machine()}",
                   platform.python_version())


def _cold_cache(tmp: Path) -> dict[str, str]:
    """An empty cache of its own, the already fetched trees linked in (fetching is not the
    figure)."""
    from harness.trees.names import cache_root

    root = tmp / "buddy-harness"
    root.mkdir(parents=True)
    kernels = cache_root() / "kernels"
    if kernels.is_dir():
        (root / "kernels").symlink_to(kernels)
    return {"XDG_CACHE_HOME": str(tmp)}


def measure(fig: Figure, cwd: Path | None = None) -> Measured:
    """Run ``fig``'s command ``fig.repeat`` times; its figure lines are the last run's."""
    walls, out, code = [], "", 0
    before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="buddy-harness-figure-") as tmp:
        for _ in range(fig.repeat):
            env = dict(os.environ)
            if fig.cold:
                env |= _cold_cache(Path(tmp) / f"cache-{len(walls)}")
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, "-m", "harness", *fig.argv], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", check=False)
            walls.append(time.monotonic() - t0)
            out, code = p.stdout, p.returncode
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    keep = re.compile(fig.keep)
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and keep.search(ln)]
    return Measured(fig, lines, walls, cpu, code, (before, os.getloadavg()[0]), _now())


def row(m: Measured) -> str:
    """One table row, led by its figure's key (so a rerun of one figure replaces it)."""
    return render("figure_row.md.j2", m=m).rstrip("\n")


def block(rows: dict[str, str], mach: Machine) -> str:
    """The table between the markers, rows in :data:`FIGURES` order."""
    order = [f.key for f in FIGURES]
    body = [rows[k] for k in order if k in rows]
    return render("figures.md.j2", begin=BEGIN, end=END, machine=mach, rows=body).rstrip("\n")


def rows_in(text: str) -> dict[str, str]:
    """The rows of the figures block of a page, by figure key."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return {}
    return {m.group(1): m.group(0) for m in _ROW.finditer(text[start:end])}


def splice(text: str, new_block: str) -> str:
    """``text`` with its figures block replaced by ``new_block`` (appended if it had none)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return text.rstrip("\n") + "\n\n" + new_block + "\n"
    return text[:start] + new_block + text[end + len(END):]


def select(keys: Sequence[str]) -> list[Figure]:
    """The figures named (all when none); an unknown name is a ValueError saying the names."""
    known = {f.key: f for f in FIGURES}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"no figure named {', '.join(unknown)}; the figures are "
                         f"{', '.join(known)}")
    return [known[k] for k in keys] if keys else list(FIGURES)


def record(page: Path, keys: Sequence[str], say: Callable[[str], None],
           cwd: Path | None = None) -> str:
    """Measure the figures ``keys`` (all when empty) and return ``page``'s new text, the other
    rows of its block kept."""
    from harness import fileio

    figs = select(keys)
    text = (fileio.read_input(page, 1 << 20).decode("utf-8", errors="replace")
            if page.exists() else "# Figures\n")
    rows = rows_in(text) if keys else {}
    for fig in figs:
        say(f"figure {fig.key}: buddy-harness {' '.join(fig.argv)}")
        m = measure(fig, cwd)
        for ln in m.lines:
            say(f"  {ln}")
        say(f"  {m.wall:.2f} s wall, {m.cpu:.1f} s of CPU, exit {m.exit}, load "
            f"{m.load[0]:.1f} -> {m.load[1]:.1f}")
        rows[fig.key] = row(m)
    return splice(text, block(rows, machine()))
