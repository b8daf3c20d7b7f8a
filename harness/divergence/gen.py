"""The fuzzer's program generator: seeded, boundary-heavy, and cheap.

Program ``i`` of seed ``S`` is drawn from ``random.Random("S/i")`` alone (a
string seed is hashed with SHA-512, the same on every machine and Python
version), so a run is the same sequence of programs however it is split over
processes and however fast they go.

Every value is drawn half from a uniform range and half from boundaries, because
the allocator's branches sit on them: sizes that are powers of two of chunks and
one chunk either side; sizes near the largest block the space can hold (its
biggest root and that root halved, once or twice, as the first allocations leave
it); range edges on block boundaries of several orders, on the space's end and
one chunk off them; trims to block boundaries, from a start inside the block (the
start of a RANGE allocation is known, the others are guessed on boundaries of
the request's own size); every min_block_size order, including above the size
(offset-aligned requests) and equal to it.
"""

from __future__ import annotations

import random

from harness.backends.base import RANGE, Op
from harness.divergence.program import (
    EXACT_ALIGN,
    FLAG_FEATURES,
    MAX_OPS,
    MAX_PAGES,
    ROUND_UP,
    TRIM_START,
    Program,
)

K, G = 1 << 10, 1 << 30
CHUNKS = (4 * K, 8 * K, 64 * K, 1 << 20)
HUGE_SPACES = (4 * G, 5 * G, 12 * G, 1 << 40, 3 << 44)


def program_at(seed: int, index: int, features: frozenset[str]) -> Program:
    """Program ``index`` of the run seeded ``seed``."""
    return _Gen(random.Random(f"{seed}/{index}"), features).program()


class _Gen:
    def __init__(self, rng: random.Random, features: frozenset[str]) -> None:
        self.r = rng
        self.f = features

    # -- numbers ------------------------------------------------------------
    def _near(self, v: int, step: int) -> int:
        """``v``, or one ``step`` either side of it (never below 0)."""
        return max(0, v + self.r.choice((-step, 0, 0, step)))

    def program(self) -> Program:
        r = self.r
        self.chunk = chunk = r.choice(CHUNKS)
        kind = r.random()
        if kind < 0.45:
            pages = r.randint(1, 64)
        elif kind < 0.6:  # a power of two of chunks, or one either side
            pages = max(1, self._near(1 << r.randint(0, 12), 1))
        elif kind < 0.85:
            pages = r.randint(65, 1 << 16)
        else:  # above 4 GiB, often not a power of two
            pages = r.choice(HUGE_SPACES) // chunk + r.randint(0, 7)
        size = pages * chunk
        if r.random() < 0.1:  # a size the C rounds down to whole chunks
            size += r.randint(1, chunk - 1)
        self.pages = pages
        self.root = 1 << (pages.bit_length() - 1)  # the biggest block, in chunks
        verbs = ["alloc"] * 6 + ["free"] * 3
        verbs += ["trim"] * 2 * ("trim" in self.f) + ["reset_clear"] * ("reset_clear" in self.f)
        self.allocs: list[dict] = []
        ops = []
        for _ in range(r.randint(1, MAX_OPS)):
            verb = r.choice(verbs)
            if verb != "alloc" and verb != "reset_clear" and not self.allocs:
                verb = "alloc"
            ops.append(getattr(self, verb)())
        return Program(size, chunk, ops)

    def pages_of_request(self) -> int:
        """A request size in chunks, at most 2^32 - 2^6 (see MAX_PAGES)."""
        r, p = self.r, self.pages
        k = r.random()
        if k < 0.3:
            n = r.randint(1, min(p, 16))
        elif k < 0.55:  # a block size, or one chunk either side
            n = self._near(1 << r.randint(0, p.bit_length()), 1)
        elif k < 0.75:  # near the largest free block: the biggest root as it splits
            n = self._near(self.root >> r.choice((0, 0, 1, 2)), 1)
        elif k < 0.85:  # near everything there is
            n = self._near(p, 1)
        else:
            n = r.randint(1, p)
        return max(1, min(n, MAX_PAGES))

    def nbytes(self) -> int:
        r, c = self.r, self.chunk
        k = r.random()
        if k < 0.9:
            return self.pages_of_request() * c
        if k < 0.95:  # not a multiple of the chunk
            return r.randint(1, min(self.pages, 16)) * c + r.randint(1, c - 1)
        if k < 0.97:
            return r.randint(0, c - 1)
        return (self.pages + r.randint(1, 4)) * c  # more than the space

    def boundary(self) -> int:
        """An offset on a block boundary of some order, possibly one chunk off it."""
        r, c, p = self.r, self.chunk, self.pages
        k = r.random()
        if k < 0.2:
            return 0
        if k < 0.35:
            return self._near(p, 1) * c  # the end of the space
        if k < 0.75:
            order_pages = 1 << r.randint(0, p.bit_length())
            at = r.randint(0, p // order_pages) * order_pages
            return (self._near(at, 1) if r.random() < 0.3 else at) * c
        if k < 0.95:
            return r.randint(0, p) * c
        return r.randint(0, p * c + c)  # any byte, usually unaligned

    # -- operations ---------------------------------------------------------
    def alloc(self) -> Op:
        r, c, f = self.r, self.chunk, self.f
        flags = 0
        for bit, feat in FLAG_FEATURES.items():
            if (feat is None or feat in f) and r.random() < 0.25:
                flags |= bit
        size = self.nbytes()
        k = r.random()
        if k < 0.55:
            mbs = c
        elif k < 0.8:
            mbs = c << r.randint(1, 6)
        elif k < 0.93:  # equal to the size's block, or one order above (offset-aligned)
            mbs = c << min(max(size // c, 1).bit_length() - 1 + r.randint(0, 1), 40)
        else:
            mbs = r.choice((c // 2, 3 * c, c + 4096))
        if mbs >= c and mbs & (mbs - 1) == 0 and max(-(-size // mbs), 1) * mbs > MAX_PAGES * c:
            mbs = c  # rounded up to min_block_size, the request would reach 2^32 pages
        # Before 7.2 a size below min_block_size needs a whole min_block_size block
        # (extra.offset-aligned-needs-only-an-aligned-hole records the difference).
        if "offset_aligned" not in f and size < mbs:
            size = mbs
        if ROUND_UP not in f and mbs >= c and mbs & (mbs - 1) == 0:
            size = -(-size // mbs) * mbs
        start = end = 0
        if flags & RANGE or r.random() < 0.15:
            start = self.boundary()
            shape = r.random()
            if shape < 0.55:
                end = self.boundary()
                if end < start and r.random() < 0.7:  # an inverted window now and then
                    start, end = end, start
            elif shape < 0.75:  # exactly the size
                end = start + size
            elif shape < 0.9:  # a block boundary above start
                end = start + (1 << r.randint(0, self.pages.bit_length())) * c
            else:  # empty
                end = start
            if EXACT_ALIGN not in f and start + size == end and (start | end) % mbs:
                mbs = c
        self.allocs.append({"start": start, "size": size, "ranged": bool(start or end)})
        return Op("alloc", {"start": start, "end": end, "size": size, "min_block_size": mbs,
                            "flags": flags})

    def _handle(self) -> int:
        r = self.r
        if r.random() < 0.05:  # one that names no allocation: a no-op
            return r.randint(len(self.allocs), MAX_OPS - 1)
        # Recent allocations more often: trims and frees of what was just made.
        n = len(self.allocs)
        return n - 1 - min(int(r.expovariate(0.7)), n - 1)

    def free(self) -> Op:
        return Op("free", {"handle": self._handle(),
                           "cleared": "clear" in self.f and self.r.random() < 0.5})

    def trim(self) -> Op:
        r, c = self.r, self.chunk
        h = self._handle()
        a = self.allocs[h] if h < len(self.allocs) else {"start": 0, "size": c, "ranged": False}
        block = 1 << max(-(-a["size"] // c) - 1, 0).bit_length()  # the size's block, in chunks
        k = r.random()
        if k < 0.4:  # a block boundary below the block
            pages = 1 << r.randint(0, max(block.bit_length() - 1, 0))
        elif k < 0.7:
            pages = self._near(-(-a["size"] // c), 1)
        elif k < 0.85:
            pages = self._near(block, 1)
        else:
            pages = r.randint(0, min(self.pages, 64))
        size = pages * c if r.random() < 0.95 else pages * c + r.randint(1, c - 1)
        args: dict = {"handle": h, "size": size}
        if TRIM_START in self.f and r.random() < 0.4:
            base = a["start"] if a["ranged"] else r.randint(0, self.pages // block) * block * c
            inner = r.choice((0, 0, c, (block - pages) * c, r.randint(0, block) * c))
            args["start"] = max(0, base + inner) if r.random() < 0.9 else self.boundary()
        return Op("trim", args)

    def reset_clear(self) -> Op:
        return Op("reset_clear", {"is_clear": self.r.random() < 0.5})

