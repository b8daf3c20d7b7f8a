"""Differential fuzzing on the binding layer: ``GpuBuddy`` programs on two bindings.

When one side of ``fuzz`` is the real Rust binding (``rust@``), programs are
written against the binding's API (``GpuBuddy::new``, ``alloc_blocks`` with a
mode and modifier flags, dropping) and run on both sides: the model binding
(:mod:`harness.backends.binding`) over any core backend, or another ``rust@``.
That checks the model against the real Rust. Programs come from a seeded
generator (the same seed and budget give the same programs anywhere), with
boundary values: sizes at and around block and chunk multiples, ranges whose
edges sit on chunk boundaries, empty and inverted ranges, ``min_block_size``
from one chunk to above the space. A divergence is shrunk by dropping
operations and written as a binding-layer YAML case.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from harness.backends.base import BackendCrash, BuddyError, CoreBackend
from harness.backends.binding import GpuBuddy

K, M, G = 1 << 10, 1 << 20, 1 << 30
CHUNKS = (4 * K, 8 * K, 64 * K)
MODIFIERS = ("contiguous", "clear", "trim_disable")
MAX_OPS = 16


@dataclass(frozen=True)
class BOp:
    verb: str  # alloc or drop
    mode: str = "simple"
    start: int = 0
    end: int = 0
    size: int = 0
    min_block_size: int = 0
    flags: tuple[str, ...] = ()
    target: int = 0  # drop: index of the alloc among the program's allocs


@dataclass(frozen=True)
class BProgram:
    base: int
    size: int
    chunk: int
    ops: tuple[BOp, ...]


@dataclass
class BSide:
    create: str  # "ok" or an errno
    steps: list[tuple] = field(default_factory=list)  # per op: (outcome, blocks, avail)
    crash: str | None = None


@dataclass(frozen=True)
class BDivergence:
    index: int  # -1: creation
    a: str
    b: str

    def describe(self, names: tuple[str, str]) -> str:
        where = "creation" if self.index < 0 else f"operation {self.index + 1}"
        return f"{where}: {names[0]}: {self.a} | {names[1]}: {self.b}"


@dataclass
class BStats:
    examples: int = 0
    ops: int = 0
    start: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        took = max(time.monotonic() - self.start, 1e-9)
        return (f"{self.examples} programs, {self.ops} operations in {took:.1f}s "
                f"({self.ops / took:,.0f} ops/s)")


# -- generation -------------------------------------------------------------------

def _pow2_at_most(rng: random.Random, hi: int, lo: int) -> int:
    top = max(hi.bit_length() - 1, lo.bit_length() - 1)
    return 1 << rng.randint(lo.bit_length() - 1, top)


def _bytes(rng: random.Random, chunk: int, space: int) -> int:
    """A size with boundary values: one chunk, powers of two and their neighbours, the space."""
    pick = rng.random()
    if pick < 0.3:
        v = _pow2_at_most(rng, space, chunk)
        return max(chunk, v + rng.choice((-chunk, 0, 0, chunk)))
    if pick < 0.4:
        return rng.choice((chunk, space, space - chunk, space + chunk))
    if pick < 0.45:
        return rng.choice((0, chunk - 1, chunk + 1))  # not a chunk multiple
    return chunk * rng.randint(1, max(1, min(space // chunk, 1 << 12)))


def program(rng: random.Random, features: frozenset[str]) -> BProgram:
    chunk = rng.choice(CHUNKS)
    space = rng.choice((chunk * rng.randint(1, 64), 1 << rng.randint(20, 34),
                        (1 << rng.randint(20, 30)) * 3))
    base = rng.choice((0, 0, 8 * G, 1 << 40))
    mods = [m for m in MODIFIERS if m in features]
    ops: list[BOp] = []
    allocs = 0
    for _ in range(rng.randint(1, MAX_OPS)):
        if allocs and rng.random() < 0.3:
            ops.append(BOp("drop", target=rng.randrange(allocs)))
            continue
        mode = rng.choice(("simple", "topdown", "range"))
        start = end = 0
        if mode == "range":
            a = chunk * rng.randint(0, space // chunk)
            b = chunk * rng.randint(0, space // chunk)
            start, end = (a, b) if rng.random() < 0.85 else (max(a, b), min(a, b))
            if rng.random() < 0.1:
                end = start  # empty
        mbs = _pow2_at_most(rng, min(space, 1 << 30), chunk) if rng.random() < 0.6 else chunk
        if rng.random() < 0.05:
            mbs = chunk * 3  # not an Alignment
        flags = tuple(m for m in mods if rng.random() < 0.25)
        ops.append(BOp("alloc", mode, start, end, _bytes(rng, chunk, space), mbs, flags))
        allocs += 1
    return BProgram(base, space, chunk, tuple(ops))


# -- running ----------------------------------------------------------------------

def _open(backend: CoreBackend, prog: BProgram):
    make = getattr(backend, "create_binding", None)
    if make is not None:
        return make(prog.base, prog.size, prog.chunk)
    return GpuBuddy(backend, prog.base, prog.size, prog.chunk)


def run_side(backend: CoreBackend, prog: BProgram) -> BSide:
    batch = getattr(backend, "run_program", None)
    if batch is not None:  # the real binding: the whole program in one round trip
        ops = [("alloc", o.mode, o.start, o.end, o.size, o.min_block_size, o.flags)
               if o.verb == "alloc" else ("drop", o.target) for o in prog.ops]
        try:
            create, steps = batch(prog.base, prog.size, prog.chunk, ops)
        except BackendCrash as e:
            return BSide("ok", crash=e.kind)
        return BSide(create, steps)
    try:
        gb = _open(backend, prog)
    except BuddyError as e:
        return BSide(e.errno)
    except BackendCrash as e:
        return BSide("crash", crash=e.kind)
    side = BSide("ok")
    held: list = []
    try:
        for op in prog.ops:
            if op.verb == "drop":
                a = held[op.target] if op.target < len(held) else None
                if a is not None:
                    a.drop()
                side.steps.append(("drop", (), gb.avail()))
                continue
            m: tuple = ("range", op.start, op.end) if op.mode == "range" else (op.mode,)
            try:
                a = gb.alloc_blocks(m, op.size, op.min_block_size, set(op.flags))
                held.append(a)
                side.steps.append(("ok", tuple((b.offset, b.order, b.size) for b in a.blocks()),
                                   gb.avail()))
            except BuddyError as e:
                held.append(None)
                side.steps.append((e.errno, (), gb.avail()))
        for a in held:
            if a is not None:
                a.drop()
        side.steps.append(("end", (), gb.avail()))
        gb.close()
    except BackendCrash as e:
        side.crash = e.kind
    return side


def compare(a: BSide, b: BSide) -> BDivergence | None:
    if a.create != b.create:
        return BDivergence(-1, a.create, b.create)
    for i, (x, y) in enumerate(zip(a.steps, b.steps)):
        if x != y:
            return BDivergence(i, _show(x), _show(y))
    if a.crash != b.crash:
        i = min(len(a.steps), len(b.steps))
        return BDivergence(i, f"crash {a.crash}" if a.crash else "no crash",
                           f"crash {b.crash}" if b.crash else "no crash")
    return None


def _show(step: tuple) -> str:
    outcome, blocks, avail = step
    shown = ", ".join(f"{o:#x}/{s:#x}" for o, _, s in blocks[:4]) + (" ..." if len(blocks) > 4
                                                                       else "")
    return f"{outcome} [{shown}] avail={avail:#x}"


def shrink(prog: BProgram, diverges: Callable[[BProgram], bool]) -> BProgram:
    """Drop operations one at a time while the programs still diverge."""
    best = prog
    changed = True
    while changed:
        changed = False
        for i in range(len(best.ops)):
            ops = list(best.ops)
            del ops[i]
            allocs_before = sum(1 for o in best.ops[:i] if o.verb == "alloc")
            removed_alloc = best.ops[i].verb == "alloc"
            fixed: list[BOp] = []
            for o in ops:
                if o.verb == "drop" and removed_alloc:
                    if o.target == allocs_before:
                        continue
                    if o.target > allocs_before:
                        o = BOp("drop", target=o.target - 1)
                fixed.append(o)
            cand = BProgram(best.base, best.size, best.chunk, tuple(fixed))
            if diverges(cand):
                best, changed = cand, True
                break
    return best


def features_of(a: CoreBackend, b: CoreBackend) -> frozenset[str]:
    return a.capabilities.features & b.capabilities.features


def search(a: CoreBackend, b: CoreBackend, *, seed: int, examples: int | None,
           seconds: float | None,
           progress: Callable[[BStats], None] | None = None
           ) -> tuple[tuple[BProgram, BDivergence] | None, BStats]:
    """Programs ``seed, 0``, ``seed, 1``, ... until a divergence or the budget runs out."""
    feats = features_of(a, b)
    stats = BStats()
    deadline = None if seconds is None else time.monotonic() + seconds
    n = 0
    while (examples is None or n < examples) and (deadline is None
                                                   or time.monotonic() < deadline):
        prog = program(random.Random(f"{seed}:{n}"), feats)
        n += 1
        d = compare(run_side(a, prog), run_side(b, prog))
        stats.examples += 1
        stats.ops += len(prog.ops)
        if progress is not None:
            progress(stats)
        if d is not None:
            small = shrink(prog, lambda p: compare(run_side(a, p), run_side(b, p)) is not None)
            found = compare(run_side(a, small), run_side(b, small))
            assert found is not None
            return (small, found), stats
    return None, stats


# -- emitting ---------------------------------------------------------------------

def case_yaml(prog: BProgram, d: BDivergence, truth: BSide, names: tuple[str, str],
              seed: int) -> str:
    """A binding-layer case that expects what ``truth`` (the first backend) did."""
    steps: list[dict] = []
    alloc_i = 0
    live: dict[int, bool] = {}
    for i, op in enumerate(prog.ops):
        if i >= len(truth.steps):
            break
        outcome, blocks, avail = truth.steps[i]
        if op.verb == "drop":
            if not live.get(op.target):
                continue
            live[op.target] = False
            steps.append({"free": f"a{op.target}", "expect": {"avail": avail}})
            continue
        body: dict = {"as": f"a{alloc_i}", "mode": op.mode}
        if op.mode == "range":
            body |= {"start": op.start, "end": op.end}
        body |= {"size": op.size, "min_block_size": op.min_block_size}
        if op.flags:
            body["flags"] = list(op.flags)
        exp: dict = ({"blocks": [{"offset": o, "size": s} for o, _, s in blocks]}
                     if outcome == "ok" else {"error": outcome})
        exp["avail"] = avail
        live[alloc_i] = outcome == "ok"
        alloc_i += 1
        steps.append({"alloc": body, "expect": exp})
        if i >= d.index >= 0:
            break
    case: dict = {
        "title": f"{names[0]} and {names[1]} disagree on a {len(steps)}-step binding "
                 "sequence found by differential fuzzing",
        "source": {"kind": "regression",
                   "ref": f"buddy-harness fuzz --backend {names[0]} --backend {names[1]} "
                          f"--seed {seed}",
                   "quote": d.describe(names)[:200]},
        "layer": "binding",
    }
    flags = sorted({f for op in prog.ops for f in op.flags})
    if flags:
        case["requires"] = flags
    buddy: dict = {"base_offset": prog.base, "size": prog.size, "chunk_size": prog.chunk}
    if truth.create != "ok":
        buddy["expect"] = {"error": truth.create}
        steps = []
    case["buddy"] = buddy
    case["steps"] = steps
    digest = hashlib.sha1(yaml.safe_dump(case, sort_keys=True).encode()).hexdigest()[:10]
    return yaml.safe_dump({"id": f"regression.binding-fuzz-{digest}"} | case, sort_keys=False)
