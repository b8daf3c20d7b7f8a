"""Differential fuzzing: random operation sequences on two backends in lockstep.

A *program* is an allocator shape (size, chunk size) and a list of batch
:class:`~harness.backends.base.Op`; it runs on each backend through
:func:`~harness.backends.batch.run_batch` (one round trip on backends that
batch), followed by freeing everything and ``fini``.  Per operation the two
sides must agree on success or errno, the blocks in list order, ``avail`` and
``clear_avail``; at the end on whether the allocator warned.  A crash on one
side only is a divergence too.

Hypothesis generates the programs and shrinks a divergent one; the minimal
program becomes a core-layer YAML case (:mod:`harness.divergence.emit`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from harness.backends.base import (
    CLEAR,
    CONTIGUOUS,
    RANGE,
    TOPDOWN,
    TRIM_DISABLE,
    BackendCrash,
    Block,
    BuddyError,
    CoreBackend,
    Op,
    OpResult,
)
from harness.backends.batch import run_batch, run_one_by_one
from harness.engine.checks import fmt, fmt_blocks
from harness.engine.run import unexpected

K, G = 1 << 10, 1 << 30
MAX_PAGES = (1 << 32) - (1 << 6)
CHUNKS = (4 * K, 8 * K, 64 * K, 1 << 20)
# Flag bit -> the feature a backend needs for it (None: always there).
FLAG_FEATURES = {RANGE: None, TOPDOWN: None, CONTIGUOUS: "contiguous", CLEAR: "clear",
                 TRIM_DISABLE: "trim_disable"}
MAX_OPS = 24
# Not spec features but differences of API family the corpus already records, kept out
# of programs rather than rediscovered every run: gpu_buddy rounds a size up to
# min_block_size where drm_buddy (6.1) refuses it, checks an exact range's alignment to
# min_block_size where drm_buddy does not, and alone trims from a chosen start.
ROUND_UP, EXACT_ALIGN, TRIM_START = "size_round_up", "exact_range_align", "trim_start"
GPU_BUDDY_ONLY = frozenset({ROUND_UP, EXACT_ALIGN, TRIM_START})


@dataclass
class Program:
    size: int
    chunk: int
    ops: list[Op]

    def allocs(self) -> int:
        return sum(op.verb == "alloc" for op in self.ops)

    def with_teardown(self) -> list[Op]:
        """The ops, then a plain free of every allocation (dead handles are no-ops)."""
        return self.ops + [Op("free", {"handle": h, "cleared": False})
                           for h in range(self.allocs())]

    def describe(self) -> str:
        lines = [f"buddy size={fmt(self.size)} chunk={fmt(self.chunk)}"]
        lines += [f"  {i}: {op.verb} {op.args}" for i, op in enumerate(self.ops)]
        return "\n".join(lines)


@dataclass
class Side:
    """What one backend did with a program."""

    backend: str
    results: list[OpResult] = field(default_factory=list)
    create_errno: str | None = None
    crash: BackendCrash | None = None  # crashed at op len(results) (or at fini)
    warned: list[str] = field(default_factory=list)


@dataclass
class Divergence:
    index: int  # op index; len(ops with teardown) for fini; -1 for creation
    what: str
    values: tuple[str, str]

    def describe(self, names: tuple[str, str]) -> str:
        where = ("creation" if self.index < 0 else f"op {self.index}")
        return (f"{where}: {self.what} differs: {names[0]}: {self.values[0]} | "
                f"{names[1]}: {self.values[1]}")


# -- generation ---------------------------------------------------------------

def _space(draw, chunk: int) -> int:
    kind = draw(st.sampled_from(["small", "small", "medium", "huge"]))
    if kind == "small":
        pages = draw(st.integers(1, 64))
    elif kind == "medium":
        pages = draw(st.integers(65, 1 << 16))
    else:  # above 4 GiB, often not a power of two
        pages = (draw(st.sampled_from([4 * G + chunk, 5 * G, 12 * G, 1 << 40, 3 << 44]))
                 // chunk) + draw(st.integers(0, 7))
    size = pages * chunk
    if draw(st.integers(0, 9)) == 9:  # a size the C rounds down to whole chunks
        size += draw(st.integers(1, chunk - 1))
    return size


# Every choice below shrinks towards 0, so 0 is always the plainest option: a small
# aligned size, no flag, offset 0.  Shrunk cases then carry only what matters.

def _bytes(draw, chunk: int, pages: int) -> int:
    """A request size: mostly whole chunks up to the space, sometimes odd or oversize."""
    kind = draw(st.integers(0, 19))
    if kind < 12:
        return draw(st.integers(1, min(pages, 16))) * chunk
    if kind < 17:
        # Below 2^32 pages even once rounded up to a min_block_size (at most 2^6 chunks):
        # from there fls() truncates the count, which the corpus records for every version
        # (review.u64-*: EINVAL, an oom crash, or 6.1's BUG_ON) and which costs the C a
        # second of allocating per example.
        return draw(st.integers(1, min(pages, MAX_PAGES))) * chunk
    if kind == 17:
        return draw(st.integers(1, min(pages, 16))) * chunk + draw(st.integers(1, chunk - 1))
    if kind == 18:
        return draw(st.integers(0, chunk - 1))
    return (pages + draw(st.integers(1, 4))) * chunk


def _offset(draw, chunk: int, pages: int) -> int:
    kind = draw(st.integers(0, 11))
    if kind < 3:
        return 0
    if kind < 10:
        return draw(st.integers(0, pages)) * chunk
    if kind == 10:
        return (pages + 1) * chunk
    return draw(st.integers(0, pages * chunk + chunk))  # any byte, usually unaligned


@st.composite
def _op(draw, chunk: int, pages: int, features: frozenset[str], verbs: list[str]) -> Op:
    verb = draw(st.sampled_from(verbs))
    if verb == "alloc":
        flags = 0
        for bit, feat in FLAG_FEATURES.items():
            if (feat is None or feat in features) and draw(st.integers(0, 3)) == 3:
                flags |= bit
        size = _bytes(draw, chunk, pages)
        mbs = (chunk << draw(st.integers(0, 6)) if draw(st.integers(0, 15)) < 15 else
               draw(st.sampled_from([chunk // 2, 3 * chunk, chunk + 4096])))
        # Before 7.2 a size below min_block_size needs a whole min_block_size block
        # (extra.offset-aligned-needs-only-an-aligned-hole records the difference).
        if "offset_aligned" not in features and size < mbs:
            size = mbs
        if ROUND_UP not in features and mbs >= chunk and mbs & (mbs - 1) == 0:
            size = -(-size // mbs) * mbs
        ranged = flags & RANGE or draw(st.integers(0, 7)) == 7
        start = _offset(draw, chunk, pages) if ranged else 0
        # The window's edge cases (exactly the size, empty) are rare by chance: ask for them.
        shape = draw(st.integers(0, 5)) if ranged else 0
        end = (_offset(draw, chunk, pages) if shape < 4 else
               start + size if shape == 4 else start)
        if EXACT_ALIGN not in features and start + size == end and (start | end) % mbs:
            mbs = chunk
        return Op("alloc", {"start": start, "end": end, "size": size,
                            "min_block_size": mbs, "flags": flags})
    # Handles index earlier allocs; one that names none is a no-op (as in run_batch).
    handle = draw(st.integers(0, MAX_OPS - 1))
    if verb == "free":
        return Op("free", {"handle": handle,
                           "cleared": "clear" in features and draw(st.booleans())})
    if verb == "trim":
        args = {"handle": handle, "size": _bytes(draw, chunk, min(pages, 64))}
        if TRIM_START in features and draw(st.integers(0, 3)) == 3:
            args["start"] = _offset(draw, chunk, pages)
        return Op("trim", args)
    return Op("reset_clear", {"is_clear": draw(st.booleans())})


@st.composite
def programs(draw, features: frozenset[str]) -> Program:
    chunk = draw(st.sampled_from(CHUNKS))
    size = _space(draw, chunk)
    verbs = ["alloc", "alloc", "alloc", "free", "free"]
    verbs += ["trim"] * ("trim" in features) + ["reset_clear"] * ("reset_clear" in features)
    ops = draw(st.lists(_op(chunk, size // chunk, features, verbs), min_size=1,
                        max_size=MAX_OPS))
    return Program(size, chunk, ops)


# -- running ------------------------------------------------------------------

def run_side(backend: CoreBackend, name: str, prog: Program) -> Side:
    """Run ``prog`` on one backend; an exception outside the backend contract (a malformed
    result, a backend bug) ends the side like a crash of kind ``exception``."""
    side = Side(name)
    try:
        return _run_side(backend, side, prog)
    except Exception as e:
        side.crash = BackendCrash(unexpected(e), "exception")
        return side


def _run_side(backend: CoreBackend, side: Side, prog: Program) -> Side:
    ops = prog.with_teardown()
    try:
        mm = backend.create(prog.size, prog.chunk)
    except BuddyError as e:
        side.create_errno = e.errno
        return side
    except BackendCrash as e:
        side.crash = e
        return side
    try:
        side.results = run_batch(mm, ops)
    except Exception:  # a crash, or an exception outside the contract
        # Find the op that did it: run again one op at a time on a fresh allocator.
        side.results = []
        try:
            mm = backend.create(prog.size, prog.chunk)
            run_one_by_one(mm, ops, side.results)
        except BackendCrash as e:
            side.crash = e
            return side
        except Exception as e:
            side.crash = BackendCrash(unexpected(e), "exception")
            return side
    try:
        side.warned = mm.warnings() + mm.fini()
    except BackendCrash as e:
        side.crash = e
    return side


def _observable(r: OpResult) -> tuple:
    return (r.ok, r.errno, tuple((b.offset, b.order, b.size) for b in r.blocks), r.avail,
            r.clear_avail)


def _show(r: OpResult) -> dict[str, str]:
    return {"outcome": "ok" if r.ok else f"error {r.errno}", "blocks": fmt_blocks(r.blocks),
            "avail": fmt(r.avail), "clear_avail": fmt(r.clear_avail)}


def compare(a: Side, b: Side) -> Divergence | None:
    if a.create_errno != b.create_errno:
        return Divergence(-1, "creation", (a.create_errno or "ok", b.create_errno or "ok"))
    for i, (ra, rb) in enumerate(zip(a.results, b.results)):
        if _observable(ra) != _observable(rb):
            va, vb = _show(ra), _show(rb)
            what = next(k for k in va if va[k] != vb[k])
            return Divergence(i, what, (va[what], vb[what]))
    n = min(len(a.results), len(b.results))
    ca, cb = a.crash, b.crash
    if len(a.results) != len(b.results) or (ca and ca.kind) != (cb and cb.kind):
        return Divergence(n, "crash", (ca.describe() if ca else "no crash",
                                       cb.describe() if cb else "no crash"))
    if a.crash or b.crash:
        return None  # both died the same way at the same op: each words it its own way
    if bool(a.warned) != bool(b.warned):
        return Divergence(n, "warnings at teardown",
                          ("; ".join(a.warned) or "none", "; ".join(b.warned) or "none"))
    return None


# -- search -------------------------------------------------------------------

@dataclass
class Stats:
    examples: int = 0
    ops: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        rate = self.ops / self.elapsed if self.elapsed > 0 else 0.0
        return (f"fuzz: {self.examples} examples, {self.ops} operations, "
                f"{rate:,.0f} ops/s, {self.elapsed:.1f}s")


@dataclass
class Finding:
    program: Program
    divergence: Divergence
    sides: tuple[Side, Side]
    shrink_seconds: float = 0.0


class _Divergent(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.divergence.describe((finding.sides[0].backend,
                                                      finding.sides[1].backend)))
        self.finding = finding


def common_features(a: CoreBackend, b: CoreBackend) -> frozenset[str]:
    def has(x: CoreBackend) -> frozenset[str]:
        c = x.capabilities
        return frozenset(c.features) | (GPU_BUDDY_ONLY if c.api == "gpu_buddy" else set())

    return has(a) & has(b)


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def search(a: CoreBackend, b: CoreBackend, names: tuple[str, str], *, seed: int,
           examples: int | None = None, seconds: float | None = None,
           progress: Callable[[Stats], None] | None = None, round_size: int = 100,
           inject: bool = False) -> tuple[Finding | None, Stats]:
    """Run programs on both until one diverges (shrunk) or the budget is spent.

    ``examples`` runs one hypothesis search of that many examples with ``seed``;
    ``seconds`` runs rounds of ``round_size`` examples, round r seeded ``seed + r``,
    until the time is up, so a run is reproducible from its seed (and length).
    ``inject`` fails one allocation per program (:mod:`harness.divergence.inject`).
    """
    from harness.divergence import inject as fi

    stats = Stats()
    strategy = (fi.injected_programs if inject else programs)(common_features(a, b))
    first_hit: list[float] = []

    def check(prog: Program) -> None:
        if isinstance(prog, fi.InjectedProgram):
            sa, sb = fi.run_pair(a, b, names, prog)
            d = fi.compare_injected(prog, sa, sb)
        else:
            sa, sb = run_side(a, names[0], prog), run_side(b, names[1], prog)
            d = compare(sa, sb)
        stats.examples += 1
        stats.ops += len(sa.results)
        if progress is not None:
            progress(stats)
        if d is not None:
            if not first_hit:
                first_hit.append(time.monotonic())
            raise _Divergent(Finding(prog, d, (sa, sb)))

    rnd = 0
    while True:
        n = examples if examples is not None else round_size
        test = settings(max_examples=n, database=None, deadline=None, derandomize=False,
                        phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False,
                        suppress_health_check=list(HealthCheck), print_blob=False)(
            hypothesis_seed(seed + rnd)(given(strategy)(check)))
        try:
            test()
        except _Divergent as e:
            e.finding.shrink_seconds = time.monotonic() - first_hit[0]
            return e.finding, stats
        rnd += 1
        if examples is not None or seconds is None or stats.elapsed >= seconds:
            return None, stats


__all__ = ["Block", "Divergence", "Finding", "Program", "Side", "Stats", "compare", "programs",
           "run_side", "search"]
