"""Whole binding programs as batches of the Rust worker's line protocol.

A program is an allocator's parameters and a list of operations on its public
API (``GpuBuddy::new``, ``alloc_blocks``, dropping an allocation,
``is_empty``, the accessors, dropping the ``GpuBuddy`` and making a new one);
:func:`lines` writes it as worker requests that name the allocator ``L``, so
many programs go to the worker in one write and come back in one read, and
:func:`parse` turns the replies into the steps the binding fuzzer compares.

Steps are ``(outcome, detail, avail)``: an alloc gives its errno or ``ok`` and
its blocks ``(offset, order, size)``; ``info`` the base offset, size and chunk
size; ``empty`` 1, 0, or 2 for an allocation that failed or is gone; a
``remake`` and the final ``teardown`` whether the allocator's teardown was
clean (0) or leaked block structures or warned (1). ``avail`` is -1 where the
step does not read it.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field
from typing import Protocol

from harness.backends.base import CLEAR, CONTIGUOUS, TRIM_DISABLE, BackendCrash, Block, Op

MODES = {"simple": "s", "topdown": "t", "range": "r"}
MODIFIERS = {"contiguous": CONTIGUOUS, "clear": CLEAR, "trim_disable": TRIM_DISABLE}
NO_HANDLE = 1 << 62  # an allocation of an allocator dropped since: a no-op for the worker


def errno_name(status: int) -> str:
    return _errno.errorcode.get(-status, f"errno {-status}")


_BITS: dict[tuple[str, ...], int] = {}


def alloc_line(slot: int | str, mode: str, start: int, end: int, size: int, mbs: int,
               flags) -> str:
    key = tuple(flags)
    bits = _BITS.get(key)
    if bits is None:  # a fuzz run asks for the same few sets of flags millions of times
        bits = _BITS[key] = sum(MODIFIERS[f] for f in set(key))
    return f"a {slot} {MODES[mode]} {start} {end} {size} {mbs} {bits}"


def reply_blocks(reply: list[str]) -> list[Block]:
    """The blocks of a successful alloc reply: ``0 AVAIL N OFF ORDER SIZE ...``."""
    n = int(reply[2])
    vals = [int(x) for x in reply[3:3 + 3 * n]]
    if len(vals) != 3 * n:
        raise BackendCrash(f"worker reply cut short: {' '.join(reply)[:200]}", "protocol")
    return [Block(vals[i], vals[i + 1], vals[i + 2]) for i in range(0, len(vals), 3)]


@dataclass
class ProgramResult:
    create: str  # "ok" or the errno of GpuBuddy::new
    steps: list[tuple] = field(default_factory=list)
    crash: BackendCrash | None = None
    warned: list[str] = field(default_factory=list)  # what made a teardown unclean


@dataclass(frozen=True)
class Plan:
    lines: list[str]
    kinds: list[tuple[str, int]]  # per step: its kind and how many lines it takes


class BindingProgram(Protocol):
    """A binding-layer program (:class:`harness.divergence.program.Program`): its verbs are
    alloc (mode, start, end, size, min_block_size, flag names), drop and empty of the
    ``handle``-th alloc, info, and remake (``early``: the GpuBuddy dropped first)."""

    base: int
    size: int
    chunk: int
    ops: list[Op]


def lines(prog: BindingProgram) -> Plan:
    init = f"i {prog.base} {prog.size} {prog.chunk}"
    out, kinds = [init], [("init", 1)]
    where: list[tuple[int, int]] = []  # per alloc of the program: (allocator, handle)
    epoch = local = 0

    def handle(i: int) -> int:
        e, h = where[i] if i < len(where) else (-1, 0)
        return h if e == epoch else NO_HANDLE

    for op in prog.ops:
        verb, a = op.verb, op.args
        if verb == "alloc":
            seq = [alloc_line("L", a["mode"], a["start"], a["end"], a["size"],
                              a["min_block_size"], a["flags"])]
            where.append((epoch, local))
            local += 1
        elif verb == "drop":
            seq = [f"f L {handle(a['handle'])}"]
        elif verb == "empty":
            seq = [f"e L {handle(a['handle'])}"]
        elif verb == "info":
            seq = ["c L"]
        elif verb == "remake":  # early: drop the GpuBuddy before its allocations
            early = ["d L"] + [f"f L {h}" for h in range(local)] if a["early"] else []
            seq = early + ["z L", "W", init]
            epoch, local = epoch + 1, 0
        else:
            raise ValueError(f"unknown binding operation {verb!r}")
        out += seq
        kinds.append((verb, len(seq)))
    seq = [f"f L {h}" for h in range(local)] + ["c L", "z L", "W"]
    out += seq
    kinds.append(("end", len(seq)))
    return Plan(out, kinds)


def _teardown(z: list[str], w: list[str], warned: list[str]) -> int:
    leaked, pending = int(z[1]), int(w[0])
    if leaked:
        warned.append(f"leak: {leaked} block structures still allocated after the GpuBuddy "
                      "and every allocation were dropped")
    if pending:
        warned.append(f"{pending} C warnings")
    return int(bool(leaked or pending))


def parse(plan: Plan, replies: list[list[str]], crash: BackendCrash | None) -> ProgramResult:
    """The steps of the replies there are (fewer than the plan's lines after a crash)."""
    r = [x[0].split() for x in replies]
    if not r:
        return ProgramResult("ok", crash=crash)
    if int(r[0][0]) != 0:
        return ProgramResult(errno_name(int(r[0][0])))
    res = ProgramResult("ok", crash=crash)
    pos = 1
    for kind, n in plan.kinds[1:]:
        if pos + n > len(r):
            break
        f = r[pos:pos + n]
        pos += n
        if kind == "alloc":
            s = int(f[0][0])
            res.steps.append(("ok", tuple((b.offset, b.order, b.size) for b in reply_blocks(f[0])),
                              int(f[0][1])) if s == 0 else (errno_name(s), (), int(f[0][1])))
        elif kind == "drop":
            res.steps.append(("drop", (), int(f[0][1])))
        elif kind == "empty":
            res.steps.append(("empty", (int(f[0][1]),), -1))
        elif kind == "info":
            _, avail, size, chunk, base = (int(x) for x in f[0])
            res.steps.append(("info", (base, size, chunk), avail))
        elif kind == "remake":
            clean = _teardown(f[-3], f[-2], res.warned)
            s = int(f[-1][0])
            res.steps.append(("remake" if s == 0 else f"remake {errno_name(s)}", (clean,),
                              int(f[-1][2]) if s == 0 else -1))
        else:  # end: every drop, then the allocator
            res.steps.append(("end", (), int(f[-3][1])))
            res.steps.append(("teardown", (_teardown(f[-2], f[-1], res.warned),), -1))
    return res
