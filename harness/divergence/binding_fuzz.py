"""Differential fuzzing on the binding layer: ``GpuBuddy`` programs on two bindings.

When one side of ``fuzz`` is the real Rust binding (``rust@``), programs are
written against the binding's public API and run on both sides: the model
binding (:mod:`harness.backends.binding`) over any core backend, or another
``rust@``. That checks the model against the real Rust. Programs come from a
seeded generator (the same seed and budget give the same programs anywhere)
that draws every public operation -- ``GpuBuddy::new``, ``alloc_blocks``,
``is_empty``, the accessors, dropping an allocation, dropping the ``GpuBuddy``
(before or after its allocations) and making a new one -- and every class of
argument, valid and invalid: chunk sizes that are no ``Alignment`` or below 4K;
``min_block_size`` below, equal to and above the chunk size, not a power of
two, above the space; ranges empty, inverted, unaligned, partly and wholly past
the end, near ``u64::MAX``; ``base_offset`` up to ``u64::MAX``; sizes above
4 GiB; each mode with every subset of the modifier flags; often on a space
fragmented first by allocations and drops. (A binding user cannot free blocks
as cleared -- dropping passes flags 0 -- so no program can make clear memory.)
Every teardown is checked: the C's block structures all freed, no warning.

A divergence is shrunk by dropping operations and written as a binding-layer
YAML case. The real binding runs a chunk of programs per round trip while this
process runs the model's side.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from harness.backends.base import BackendCrash, BuddyError, CoreBackend
from harness.backends.binding import U64_MAX, GpuBuddy

K, M, G = 1 << 10, 1 << 20, 1 << 30
CHUNKS = (4 * K, 8 * K, 64 * K)
# Chunk sizes GpuBuddy::new must refuse: no Alignment (0, not a power of two) or below 4K.
BAD_CHUNKS = (0, 1 * K, 2 * K, 12 * K, 4 * K + 1)
MODES = ("simple", "topdown", "range")
MODIFIERS = ("contiguous", "clear", "trim_disable")
MAX_OPS = 16
CHUNK = 64  # programs per round trip to a real binding


@dataclass(frozen=True)
class BOp:
    verb: str  # alloc, drop, empty, info or remake
    mode: str = "simple"
    start: int = 0
    end: int = 0
    size: int = 0
    min_block_size: int = 0
    flags: tuple[str, ...] = ()
    target: int = 0  # drop, empty: index of the alloc among the program's allocs
    early: bool = False  # remake: drop the GpuBuddy before its allocations


@dataclass(frozen=True)
class BProgram:
    base: int
    size: int
    chunk: int
    ops: tuple[BOp, ...]


@dataclass
class BSide:
    create: str  # "ok" or an errno
    steps: list[tuple] = field(default_factory=list)  # per op: (outcome, detail, avail)
    crash: str | None = None
    warned: list[str] = field(default_factory=list)  # what made a teardown unclean


@dataclass(frozen=True)
class BDivergence:
    index: int  # -1: creation; len(ops): the final drops; len(ops) + 1: the teardown
    a: str
    b: str

    def describe(self, names: tuple[str, str]) -> str:
        where = "creation" if self.index < 0 else f"operation {self.index + 1}"
        return f"{where}: {names[0]}: {self.a} | {names[1]}: {self.b}"


@dataclass
class BStats:
    examples: int = 0
    ops: int = 0  # public-API calls: GpuBuddy::new and each operation that ran
    start: float = field(default_factory=time.monotonic)
    # CPU time of this process, when the programs ran here (one process): the rate per
    # CPU-second is what a run gets on a core of its own, however loaded the machine is.
    cpu_start: float | None = field(default_factory=time.process_time)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def rate(self) -> float:
        return self.ops / max(self.elapsed, 1e-9)

    def line(self) -> str:
        took = max(time.monotonic() - self.start, 1e-9)
        cpu = ("" if self.cpu_start is None else
               f"; {self.ops / max(time.process_time() - self.cpu_start, 1e-9):,.0f} "
               "per CPU-second of this process")
        return (f"{self.examples} programs, {self.ops} operations in {took:.1f}s "
                f"({self.ops / took:,.0f} ops/s{cpu})")


# -- generation -------------------------------------------------------------------

def _pow2_at_most(rng: random.Random, hi: int, lo: int) -> int:
    top = max(hi.bit_length() - 1, lo.bit_length() - 1)
    return 1 << rng.randint(lo.bit_length() - 1, top)


def _bytes(rng: random.Random, chunk: int, space: int) -> int:
    """A size with boundary values: one chunk, powers of two and their neighbours, the
    space, sizes above 4 GiB, and sizes that are no chunk multiple."""
    pick = rng.random()
    if pick < 0.3:
        v = _pow2_at_most(rng, space, chunk)
        return max(chunk, v + rng.choice((-chunk, 0, 0, chunk)))
    if pick < 0.4:
        return rng.choice((chunk, space, space - chunk, space + chunk))
    if pick < 0.45:
        return rng.choice((0, chunk - 1, chunk + 1))  # not a chunk multiple
    if pick < 0.5:
        return rng.choice(((4 * G) + chunk * rng.randint(1, 4), 1 << rng.randint(33, 40),
                           U64_MAX - chunk + 1))
    return chunk * rng.randint(1, max(1, min(space // chunk, 1 << 12)))


def _space(rng: random.Random, chunk: int) -> int:
    pick = rng.random()
    if pick < 0.03:
        return rng.choice((0, max(chunk - 1, 1)))  # smaller than a chunk
    if pick < 0.06:
        return chunk * rng.randint(2, 64) + chunk // 2  # no chunk multiple: rounded down
    if pick < 0.2:
        return (1 << rng.randint(32, 40)) + chunk * rng.randint(0, 3)  # above 4 GiB
    return rng.choice((chunk * rng.randint(1, 64), 1 << rng.randint(20, 34),
                       (1 << rng.randint(20, 30)) * 3))


def _base(rng: random.Random, chunk: int, space: int) -> int:
    top = min((1 << 64) - space, U64_MAX)  # the last base whose space ends at 2^64
    pick = rng.random()
    if pick < 0.89:
        return rng.choice((0, 0, 8 * G, 1 << 40))
    if pick < 0.99:
        return max(top, 0)
    # Past that, the highest blocks' offsets would pass u64::MAX: the binding panics
    # (specs/FINDINGS.md), which ends the program and costs the worker a restart.
    return rng.choice((min(max(top, 0) + chunk * rng.randint(1, 4), U64_MAX),
                       U64_MAX - chunk + 1, U64_MAX))


def _min_block(rng: random.Random, chunk: int, space: int) -> int:
    pick = rng.random()
    if pick < 0.3:
        return chunk
    if pick < 0.7:  # above: up to twice the space
        return _pow2_at_most(rng, min(max(space, chunk), 1 << 30) * 2, chunk * 2)
    if pick < 0.82:  # below the chunk size, a power of two
        return chunk >> rng.randint(1, 3) if rng.random() < 0.8 else 1
    if pick < 0.94:  # no Alignment
        return rng.choice((chunk * 3, chunk + 1, 0, 3 * chunk // 2))
    return 1 << rng.randint(31, 40)


def _range(rng: random.Random, chunk: int, space: int) -> tuple[int, int]:
    pages = max(space // chunk, 1)
    a, b = chunk * rng.randint(0, pages), chunk * rng.randint(0, pages)
    pick = rng.random()
    if pick < 0.45:
        return min(a, b), max(a, b)
    if pick < 0.52:
        return max(a, b), min(a, b)  # inverted (or empty)
    if pick < 0.58:
        return a, a  # empty
    if pick < 0.68:  # unaligned edges
        off = rng.choice((1, chunk // 2))
        lo, hi = min(a, b), max(a, b)
        return (lo + off, hi + chunk) if rng.random() < 0.5 else (lo, hi + off)
    if pick < 0.78:  # partly past the end
        return min(a, b), space + chunk * rng.randint(1, 4)
    if pick < 0.86:  # wholly past the end
        s = space + chunk * rng.randint(0, 8)
        return s, s + chunk * rng.randint(1, 8)
    if pick < 0.94:  # at u64::MAX
        return rng.choice(((U64_MAX - chunk + 1) & ~(chunk - 1), min(a, b), 0)), U64_MAX
    return 0, space


def _flags(rng: random.Random, mods: list[str]) -> tuple[str, ...]:
    """Half the time no modifier, else a subset drawn uniformly (the empty one included)."""
    if not mods or rng.random() < 0.5:
        return ()
    return tuple(m for m in mods if rng.random() < 0.5)


def program(rng: random.Random, features: frozenset[str]) -> BProgram:
    chunk = rng.choice(BAD_CHUNKS) if rng.random() < 0.03 else rng.choice(CHUNKS)
    space = _space(rng, max(chunk, 1))
    base = _base(rng, max(chunk, 1), space)
    mods = [m for m in MODIFIERS if m in features]
    ops: list[BOp] = []
    unit = max(chunk, 1)
    if rng.random() < 0.4:  # a fragmented space: small allocations, every other dropped
        n = rng.randint(2, 10)
        for _ in range(n):
            ops.append(BOp("alloc", rng.choice(("simple", "topdown")),
                           size=unit * rng.randint(1, 8), min_block_size=unit))
        for i in range(rng.randint(0, 1), n, 2):
            ops.append(BOp("drop", target=i))
    allocs = sum(o.verb == "alloc" for o in ops)
    for _ in range(rng.randint(1, MAX_OPS)):
        pick = rng.random()
        if allocs and pick < 0.2:
            ops.append(BOp("drop", target=rng.randrange(allocs)))
            continue
        if allocs and pick < 0.25:
            ops.append(BOp("empty", target=rng.randrange(allocs)))
            continue
        if pick < 0.29:
            ops.append(BOp("info"))
            continue
        if pick < 0.32:
            ops.append(BOp("remake", early=rng.random() < 0.5))
            continue
        mode = rng.choice(MODES)
        start, end = _range(rng, unit, space) if mode == "range" else (0, 0)
        ops.append(BOp("alloc", mode, start, end, _bytes(rng, unit, space),
                       _min_block(rng, unit, space), _flags(rng, mods)))
        allocs += 1
    return BProgram(base, space, chunk, tuple(ops))


# -- running ----------------------------------------------------------------------

def _open(backend: CoreBackend, prog: BProgram):
    own = backend.create_binding(prog.base, prog.size, prog.chunk)
    return own if own is not None else GpuBuddy(backend, prog.base, prog.size, prog.chunk)


def _wire(prog: BProgram) -> tuple[int, int, int, list[tuple]]:
    """The program as a real binding's batch (:mod:`harness.backends.rust.programs`)."""
    ops: list[tuple] = []
    for o in prog.ops:
        if o.verb == "alloc":
            ops.append(("alloc", o.mode, o.start, o.end, o.size, o.min_block_size, o.flags))
        elif o.verb in ("drop", "empty"):
            ops.append((o.verb, o.target))
        elif o.verb == "remake":
            ops.append(("remake", o.early))
        else:
            ops.append((o.verb,))
    return prog.base, prog.size, prog.chunk, ops


def _from_result(res) -> BSide:
    return BSide(res.create, res.steps, res.crash.kind if res.crash else None, res.warned)


def _teardown(gb: GpuBuddy, held: list, early: bool, side: BSide) -> int:
    """Drop every allocation and the allocator (the allocator first if ``early``):
    1 if the teardown warned, else 0."""
    pending = gb.warnings()
    if early:
        gb.close()
    for i, a in enumerate(held):
        if a is not None:
            a.drop()
            held[i] = None
    warned = pending + (gb.fini_warnings if early else gb.close())
    side.warned += warned
    return int(bool(warned))


def _model_side(backend: CoreBackend, prog: BProgram) -> BSide:
    try:
        gb = _open(backend, prog)
    except BuddyError as e:
        return BSide(e.errno)
    except BackendCrash as e:
        return BSide("crash", crash=e.kind)
    side = BSide("ok")
    held: list = []  # per alloc of the program: its AllocatedBlocks while alive
    try:
        for op in prog.ops:
            if op.verb in ("drop", "empty"):
                a = held[op.target] if op.target < len(held) else None
                if op.verb == "empty":
                    side.steps.append(("empty", (2 if a is None else int(a.is_empty()),), -1))
                    continue
                if a is not None:
                    a.drop()
                    held[op.target] = None
                side.steps.append(("drop", (), gb.avail()))
            elif op.verb == "info":
                side.steps.append(("info", (gb.base_offset(), gb.size(), gb.chunk_size()),
                                   gb.avail()))
            elif op.verb == "remake":
                clean = _teardown(gb, held, op.early, side)
                try:
                    gb = _open(backend, prog)
                except BuddyError as e:
                    side.steps.append((f"remake {e.errno}", (clean,), -1))
                    return side
                side.steps.append(("remake", (clean,), gb.avail()))
            else:
                m: tuple = ("range", op.start, op.end) if op.mode == "range" else (op.mode,)
                try:
                    a = gb.alloc_blocks(m, op.size, op.min_block_size, set(op.flags))
                    held.append(a)
                    side.steps.append(("ok", tuple((b.offset, b.order, b.size)
                                                   for b in a.blocks()), gb.avail()))
                except BuddyError as e:
                    held.append(None)
                    side.steps.append((e.errno, (), gb.avail()))
        for i, a in enumerate(held):
            if a is not None:
                a.drop()
                held[i] = None
        side.steps.append(("end", (), gb.avail()))
        side.steps.append(("teardown", (_teardown(gb, held, False, side),), -1))
    except BackendCrash as e:
        side.crash = e.kind
        if e.kind == "panic":  # the model's own: the core allocator is still there
            gb.abandon()
    return side


def run_side(backend: CoreBackend, prog: BProgram) -> BSide:
    return run_sides(backend, [prog])[0]


def run_sides(backend: CoreBackend, progs: list[BProgram]) -> list[BSide]:
    return _start(backend, progs)()


def _start(backend: CoreBackend, progs: list[BProgram]) -> Callable[[], list[BSide]]:
    """Start ``progs`` on ``backend``: a real binding runs them in its worker meanwhile;
    the call returned gives the sides."""
    batch = getattr(backend, "start_programs", None)
    if batch is not None:
        collect = batch([_wire(p) for p in progs])
        return lambda: [_from_result(r) for r in collect()]
    return lambda: [_model_side(backend, p) for p in progs]


def compare(a: BSide, b: BSide) -> BDivergence | None:
    if a.create != b.create:
        return BDivergence(-1, a.create, b.create)
    for i, (x, y) in enumerate(zip(a.steps, b.steps)):
        if x != y:
            return BDivergence(i, _show(x, a), _show(y, b))
    if a.crash != b.crash or len(a.steps) != len(b.steps):
        i = min(len(a.steps), len(b.steps))
        return BDivergence(i, f"crash {a.crash}" if a.crash else "no crash",
                           f"crash {b.crash}" if b.crash else "no crash")
    return None


def _show(step: tuple, side: BSide) -> str:
    outcome, detail, avail = step
    if outcome in ("remake", "teardown") or outcome.startswith("remake "):
        text = "; ".join(side.warned) or "none"
        return f"{outcome} {'warned' if detail[0] else 'clean'} ({text[:160]})"
    if outcome in ("info", "empty"):
        shown = ", ".join(f"{v:#x}" for v in detail)
    else:
        shown = ", ".join(f"{o:#x}/{s:#x}" for o, _, s in detail[:4]) + (
            " ..." if len(detail) > 4 else "")
    return f"{outcome} [{shown}]" + (f" avail={avail:#x}" if avail >= 0 else "")


def _ops_run(prog: BProgram, side: BSide) -> int:
    return 1 + min(len(side.steps), len(prog.ops)) if side.create == "ok" else 1


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
                if o.verb in ("drop", "empty") and removed_alloc:
                    if o.target == allocs_before:
                        continue
                    if o.target > allocs_before:
                        o = BOp(o.verb, target=o.target - 1)
                fixed.append(o)
            cand = BProgram(best.base, best.size, best.chunk, tuple(fixed))
            if diverges(cand):
                best, changed = cand, True
                break
    return best


def features_of(a: CoreBackend, b: CoreBackend) -> frozenset[str]:
    return a.capabilities.features & b.capabilities.features


def run_chunk(a: CoreBackend, b: CoreBackend, seed: int, features: frozenset[str],
              first: int, count: int) -> tuple[int, int, int | None]:
    """Programs ``first`` .. ``first + count - 1``: (programs run, operations, first divergent)."""
    progs = [program(random.Random(f"{seed}:{i}"), features) for i in range(first, first + count)]
    # Both sides start before either is read: a real binding's worker runs its batch
    # while this process runs the model's.
    started = [_start(a, progs), _start(b, progs)]
    sides: list[list[BSide]] = [[], []]
    for i in sorted((0, 1), key=lambda i: hasattr((a, b)[i], "start_programs")):
        sides[i] = started[i]()
    ops = 0
    for k, (prog, sa, sb) in enumerate(zip(progs, *sides)):
        ops += _ops_run(prog, sa)
        if compare(sa, sb) is not None:
            return k + 1, ops, first + k
    return count, ops, None


def search(a: CoreBackend, b: CoreBackend, *, seed: int, examples: int | None,
           seconds: float | None,
           progress: Callable[[BStats], None] | None = None, jobs: int = 1,
           opener: Callable[[str], CoreBackend] | None = None,
           names: tuple[str, str] | None = None,
           ) -> tuple[tuple[BProgram, BDivergence] | None, BStats]:
    """Programs ``seed, 0``, ``seed, 1``, ... until a divergence (then shrunk) or the budget
    runs out. With ``jobs`` > 1, an ``opener`` (a picklable name -> backend) and the
    backends' ``names``, chunks of programs run in that many processes, each with
    backends of its own; the first divergence is the same."""
    feats = features_of(a, b)
    stats = BStats()
    from harness.divergence.pool import parallel_first, serial_first

    if jobs > 1 and opener is not None and names is not None:
        stats.cpu_start = None  # the programs run in other processes
        hit = parallel_first(opener, names, seed, feats, examples, seconds, jobs, stats,
                             progress, layer="binding")
    else:
        hit = serial_first(lambda first, count: run_chunk(a, b, seed, feats, first, count),
                           CHUNK, examples, seconds, stats, progress)
    if hit is None:
        return None, stats
    prog = program(random.Random(f"{seed}:{hit}"), feats)
    small = shrink(prog, lambda p: compare(run_side(a, p), run_side(b, p)) is not None)
    found = compare(run_side(a, small), run_side(b, small))
    assert found is not None  # both sides are deterministic: what diverged diverges again
    return (small, found), stats


# -- emitting ---------------------------------------------------------------------

def case_yaml(prog: BProgram, d: BDivergence, truth: BSide, names: tuple[str, str],
              seed: int) -> str:
    """A binding-layer case that expects what ``truth`` (the first backend) did.

    A case has one allocator, so only the operations of the allocator the divergence
    is on are written (those after the last ``remake`` before it); a divergence at a
    ``remake`` is one of that allocator's teardown, which every case checks at its end.
    ``is_empty`` has no step in the case format and is left out.
    """
    where = d.index if 0 <= d.index < len(prog.ops) else len(prog.ops)
    first = max((i + 1 for i, o in enumerate(prog.ops[:where]) if o.verb == "remake"),
                default=0)
    steps: list[dict] = []
    alloc_i = sum(o.verb == "alloc" for o in prog.ops[:first])
    live: dict[int, bool] = {}
    for i, op in enumerate(prog.ops[first:], first):
        if i >= len(truth.steps) or op.verb == "remake":
            break
        outcome, detail, avail = truth.steps[i]
        if op.verb == "empty":
            continue
        if op.verb == "info":
            base, size, chunk = detail
            steps.append({"check": {"base_offset": base, "size": size, "chunk_size": chunk,
                                    "avail": avail}})
        elif op.verb == "drop":
            if not live.get(op.target):
                continue
            live[op.target] = False
            steps.append({"free": f"a{op.target}", "expect": {"avail": avail}})
        else:
            body: dict = {"as": f"a{alloc_i}", "mode": op.mode}
            if op.mode == "range":
                body |= {"start": op.start, "end": op.end}
            body |= {"size": op.size, "min_block_size": op.min_block_size}
            if op.flags:
                body["flags"] = list(op.flags)
            exp: dict = ({"blocks": [{"offset": o, "size": s} for o, _, s in detail]}
                         if outcome == "ok" else {"error": outcome})
            exp["avail"] = avail
            live[alloc_i] = outcome == "ok"
            alloc_i += 1
            steps.append({"alloc": body, "expect": exp})
        if i >= d.index >= 0:
            break
    if not steps:  # a divergence at the teardown alone: the case's own teardown shows it
        steps.append({"check": {"base_offset": prog.base, "size": prog.size,
                                "chunk_size": prog.chunk}})
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
