"""The binding fuzzer's program generator: ``GpuBuddy`` programs of the binding's public API.

Program ``i`` of seed ``S`` is drawn from ``random.Random("S:i")`` alone, so the same seed
and budget give the same programs anywhere.  It draws every public operation --
``GpuBuddy::new``, ``alloc_blocks``, ``is_empty``, the accessors, dropping an allocation,
dropping the ``GpuBuddy`` (before or after its allocations) and making a new one -- and
every class of argument, valid and invalid: chunk sizes that are no ``Alignment`` or below
4K; ``min_block_size`` below, equal to and above the chunk size, not a power of two, above
the space; ranges empty, inverted, unaligned, partly and wholly past the end, near
``u64::MAX``; ``base_offset`` up to ``u64::MAX``; sizes above 4 GiB; each mode with every
subset of the modifier flags; often on a space fragmented first by allocations and drops.
(A binding user cannot free blocks as cleared -- dropping passes flags 0 -- so no program
can make clear memory.)
"""

from __future__ import annotations

import random

from harness.backends.base import Op
from harness.backends.binding import U64_MAX
from harness.divergence.program import Program

K, M, G = 1 << 10, 1 << 20, 1 << 30
CHUNKS = (4 * K, 8 * K, 64 * K)
# Chunk sizes GpuBuddy::new must refuse: no Alignment (0, not a power of two) or below 4K.
BAD_CHUNKS = (0, 1 * K, 2 * K, 12 * K, 4 * K + 1)
MODES = ("simple", "topdown", "range")
MODIFIERS = ("contiguous", "clear", "trim_disable")
MAX_OPS = 16


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


def program_at(seed: int, index: int, features: frozenset[str]) -> Program:
    """Program ``index`` of the run seeded ``seed``."""
    return program(random.Random(f"{seed}:{index}"), features)


def _alloc(mode: str, start: int = 0, end: int = 0, size: int = 0, min_block_size: int = 0,
           flags: tuple[str, ...] = ()) -> Op:
    return Op("alloc", {"mode": mode, "start": start, "end": end, "size": size,
                        "min_block_size": min_block_size, "flags": flags})


def program(rng: random.Random, features: frozenset[str]) -> Program:
    chunk = rng.choice(BAD_CHUNKS) if rng.random() < 0.03 else rng.choice(CHUNKS)
    space = _space(rng, max(chunk, 1))
    base = _base(rng, max(chunk, 1), space)
    mods = [m for m in MODIFIERS if m in features]
    ops: list[Op] = []
    unit = max(chunk, 1)
    if rng.random() < 0.4:  # a fragmented space: small allocations, every other dropped
        n = rng.randint(2, 10)
        for _ in range(n):
            ops.append(_alloc(rng.choice(("simple", "topdown")), size=unit * rng.randint(1, 8),
                              min_block_size=unit))
        for i in range(rng.randint(0, 1), n, 2):
            ops.append(Op("drop", {"handle": i}))
    allocs = sum(o.verb == "alloc" for o in ops)
    for _ in range(rng.randint(1, MAX_OPS)):
        pick = rng.random()
        if allocs and pick < 0.2:
            ops.append(Op("drop", {"handle": rng.randrange(allocs)}))
            continue
        if allocs and pick < 0.25:
            ops.append(Op("empty", {"handle": rng.randrange(allocs)}))
            continue
        if pick < 0.29:
            ops.append(Op("info"))
            continue
        if pick < 0.32:
            ops.append(Op("remake", {"early": rng.random() < 0.5}))
            continue
        mode = rng.choice(MODES)
        start, end = _range(rng, unit, space) if mode == "range" else (0, 0)
        ops.append(_alloc(mode, start, end, _bytes(rng, unit, space),
                          _min_block(rng, unit, space), _flags(rng, mods)))
        allocs += 1
    return Program(space, chunk, ops, layer="binding", base=base)
