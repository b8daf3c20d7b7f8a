"""Expectation checks and the always-on invariants, over plain observed values."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends.base import Block
from harness.spec.model import Expect

Eval = Callable[..., int]


class CheckFailure(Exception):
    """An expectation or invariant did not hold; the message says which and how."""


def fmt(n: int) -> str:
    """A number as a person reads it: hex for large values, with a size suffix if exact."""
    if not isinstance(n, int):  # a malformed backend result is shown as it came
        return repr(n)
    if n < 0:
        return "-" + fmt(-n)
    for shift, suffix in ((60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if n >= (1 << shift) and n % (1 << shift) == 0:
            return f"{n >> shift}{suffix}"
    return str(n) if n < 1 << 16 else hex(n)


def fmt_blocks(blocks: list[Block]) -> str:
    return "[" + ", ".join(f"{{offset: {fmt(b.offset)}, order: {b.order}, size: {fmt(b.size)}}}"
                           for b in blocks) + "]"


def check_expect(
    exp: Expect,
    ev: Eval,
    *,
    errno: str | None,
    blocks: list[Block],
    avail: int,
    clear_avail: int,
    avail_before: int,
) -> None:
    """Raise CheckFailure on the first expectation of ``exp`` that does not hold."""
    if exp.error is not None or errno is not None:
        if errno != exp.error:
            want = f"error {exp.error}" if exp.error else "success"
            got = f"error {errno}" if errno else f"success with {fmt_blocks(blocks)}"
            raise CheckFailure(f"expected {want}, got {got}")
    if exp.blocks is not None:
        if len(exp.blocks) != len(blocks):
            raise CheckFailure(
                f"expected {len(exp.blocks)} block(s), got {len(blocks)}: {fmt_blocks(blocks)}"
            )
        for i, (want, got) in enumerate(zip(exp.blocks, blocks)):
            for key, expr in want.items():
                value = ev(expr)
                if getattr(got, key) != value:
                    raise CheckFailure(
                        f"block {i}: expected {key} {fmt(value)}, got {fmt(getattr(got, key))}"
                        f" (blocks: {fmt_blocks(blocks)})"
                    )
    if exp.count is not None and len(blocks) != ev(exp.count):
        raise CheckFailure(
            f"expected {ev(exp.count)} block(s), got {len(blocks)}: {fmt_blocks(blocks)}"
        )
    if exp.total is not None:
        total = sum(b.size for b in blocks)
        if total != ev(exp.total):
            raise CheckFailure(f"expected total {fmt(ev(exp.total))}, got {fmt(total)}")
    if exp.each is not None:
        for key, expr in exp.each.items():
            value = ev(expr)
            for b in blocks:
                ok = b.offset % value == 0 if key == "aligned" else getattr(b, key) == value
                if not ok:
                    raise CheckFailure(f"expected each block {key} {fmt(value)}, got {b}")
    if exp.contiguous is not None:
        spans = sorted((b.offset, b.size) for b in blocks)
        gapless = all(a[0] + a[1] == b[0] for a, b in zip(spans, spans[1:]))
        if gapless != exp.contiguous:
            raise CheckFailure(
                f"expected contiguous: {exp.contiguous}, blocks are {fmt_blocks(blocks)}"
            )
    if exp.within is not None:
        lo, hi = ev(exp.within[0]), ev(exp.within[1])
        for b in blocks:
            if b.offset < lo or b.offset + b.size > hi:
                raise CheckFailure(f"block {b} is not within [{fmt(lo)}, {fmt(hi)})")
    if exp.sorted is not None:
        offs = [b.offset for b in blocks]
        want = sorted(offs, reverse=exp.sorted == "descending")
        if offs != want:
            raise CheckFailure(f"expected blocks sorted {exp.sorted}, got offsets "
                               f"{[fmt(o) for o in offs]}")
    if exp.avail is not None and avail != ev(exp.avail):
        raise CheckFailure(f"expected avail {fmt(ev(exp.avail))}, got {fmt(avail)}")
    if exp.avail_delta is not None:
        delta = ev(exp.avail_delta, signed=True)
        if avail - avail_before != delta:
            raise CheckFailure(
                f"expected avail_delta {fmt(delta)}, got {fmt(avail - avail_before)}"
            )
    if exp.clear_avail is not None and clear_avail != ev(exp.clear_avail):
        raise CheckFailure(
            f"expected clear_avail {fmt(ev(exp.clear_avail))}, got {fmt(clear_avail)}"
        )


@dataclass
class LiveSet:
    """The blocks the case holds, kept sorted by raw offset so each step checks in O(log n)."""

    mm_size: int
    chunk_size: int
    starts: list[int] = field(default_factory=list)
    ends: dict[int, int] = field(default_factory=dict)
    total: int = 0

    def add(self, blocks: list[Block], base: int = 0) -> None:
        for b in blocks:
            if not isinstance(b, Block) or not all(
                    isinstance(v, int) for v in (b.offset, b.order, b.size)):
                raise CheckFailure(f"invariant: {b!r} is not a block of integers")
            raw = b.offset - base
            if not 0 <= b.order < 64 or b.size != self.chunk_size << b.order:
                raise CheckFailure(f"invariant: block {b} size is not chunk_size << order")
            if raw % b.size:
                raise CheckFailure(f"invariant: block {b} raw offset is not a multiple of its size")
            if raw < 0 or raw + b.size > self.mm_size:
                raise CheckFailure(f"invariant: block {b} lies outside the managed range")
            i = bisect.bisect_left(self.starts, raw)
            if i < len(self.starts) and self.starts[i] < raw + b.size:
                raise CheckFailure(f"invariant: block {b} overlaps a live block at raw offset "
                                   f"{fmt(self.starts[i])}")
            if i > 0 and self.ends[self.starts[i - 1]] > raw:
                raise CheckFailure(f"invariant: block {b} overlaps a live block at raw offset "
                                   f"{fmt(self.starts[i - 1])}")
            self.starts.insert(i, raw)
            self.ends[raw] = raw + b.size
            self.total += b.size

    def remove(self, blocks: list[Block], base: int = 0) -> None:
        for b in blocks:
            if not isinstance(getattr(b, "offset", None), int):
                continue  # never added: add() refused it
            raw = b.offset - base
            i = bisect.bisect_left(self.starts, raw)
            if i < len(self.starts) and self.starts[i] == raw:
                del self.starts[i]
                self.total -= self.ends.pop(raw) - raw

    def check_counters(self, avail: int, clear_avail: int) -> None:
        for name, value in (("avail", avail), ("clear_avail", clear_avail)):
            if not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise CheckFailure(f"invariant: {name} {fmt(value)} is not a u64 byte count")
        if avail != self.mm_size - self.total:
            raise CheckFailure(
                f"invariant: avail {fmt(avail)} != size {fmt(self.mm_size)} - live "
                f"{fmt(self.total)} ({len(self.starts)} live blocks)"
            )
        if clear_avail > avail:
            raise CheckFailure(
                f"invariant: clear_avail {fmt(clear_avail)} > avail {fmt(avail)}"
            )
