"""The fuzzer's binding layer: ``GpuBuddy`` programs on two bindings.

When one side of ``fuzz`` is the real Rust binding (``rust@``), programs
(:mod:`harness.divergence.binding_gen`) are written against the binding's public API
and run on both sides: the model binding (:mod:`harness.backends.binding`) over any
core backend, or another ``rust@``.  That checks the model against the real Rust.
Every teardown is checked: the C's block structures all freed, no warning.  A real
binding runs a chunk of programs per round trip while this process runs the model's
side.  A divergent program becomes a binding-layer YAML case.

A side's results are the steps :mod:`harness.backends.rust.programs` describes:
``(outcome, detail, avail)`` per operation, then the final drops and the teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import yaml

from harness.backends.base import BackendCrash, BuddyError, CoreBackend, Op
from harness.divergence.binding_gen import MODIFIERS, program_at
from harness.divergence.emit import regression_case
from harness.divergence.pipeline import Divergence, Finding, Side, compare_sides, guarded
from harness.divergence.program import Program
from harness.divergence.shrink import shrink
from harness.engine.session import open_binding


def _teardown(gb, held: list, early: bool, side: Side) -> int:
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


def _model_side(backend: CoreBackend, prog: Program, side: Side) -> Side:
    try:
        gb = open_binding(backend, prog.base, prog.size, prog.chunk)
    except BuddyError as e:
        side.create_errno = e.errno
        return side
    except BackendCrash as e:
        side.create_errno, side.crash = "crash", e
        return side
    steps = side.results
    held: list = []  # per alloc of the program: its AllocatedBlocks while alive
    try:
        for op in prog.ops:
            a = op.args
            if op.verb in ("drop", "empty"):
                h = a["handle"]
                blocks = held[h] if h < len(held) else None
                if op.verb == "empty":
                    steps.append(("empty", (2 if blocks is None else int(blocks.is_empty()),),
                                  -1))
                    continue
                if blocks is not None:
                    blocks.drop()
                    held[h] = None
                steps.append(("drop", (), gb.avail()))
            elif op.verb == "info":
                steps.append(("info", (gb.base_offset(), gb.size(), gb.chunk_size()),
                              gb.avail()))
            elif op.verb == "remake":
                clean = _teardown(gb, held, a["early"], side)
                try:
                    gb = open_binding(backend, prog.base, prog.size, prog.chunk)
                except BuddyError as e:
                    steps.append((f"remake {e.errno}", (clean,), -1))
                    return side
                steps.append(("remake", (clean,), gb.avail()))
            else:
                m: tuple = (("range", a["start"], a["end"]) if a["mode"] == "range"
                            else (a["mode"],))
                try:
                    blocks = gb.alloc_blocks(m, a["size"], a["min_block_size"], set(a["flags"]))
                    held.append(blocks)
                    steps.append(("ok", tuple((b.offset, b.order, b.size)
                                              for b in blocks.blocks()), gb.avail()))
                except BuddyError as e:
                    held.append(None)
                    steps.append((e.errno, (), gb.avail()))
        for i, blocks in enumerate(held):
            if blocks is not None:
                blocks.drop()
                held[i] = None
        steps.append(("end", (), gb.avail()))
        steps.append(("teardown", (_teardown(gb, held, False, side),), -1))
    except BackendCrash as e:
        side.crash = e
        if e.kind == "panic":  # the model's own: the core allocator is still there
            gb.abandon()
    return side


def _start(backend: CoreBackend, name: str, progs: list[Program]) -> Callable[[], list[Side]]:
    """Start ``progs`` on ``backend``: a real binding runs them in its worker meanwhile;
    the call returned gives the sides."""
    if backend.own_binding:
        collect = backend.start_programs(progs)  # type: ignore[attr-defined]
        return lambda: [Side(name, r.steps, None if r.create == "ok" else r.create, r.crash,
                             r.warned) for r in collect()]
    return lambda: [guarded(name, lambda side, p=p: _model_side(backend, p, side))
                    for p in progs]


def run_side(backend: CoreBackend, name: str, prog: Program) -> Side:
    return _start(backend, name, [prog])()[0]


def _show(step: tuple, side: Side) -> dict[str, str]:
    outcome, detail, avail = step
    if outcome in ("remake", "teardown") or outcome.startswith("remake "):
        text = "; ".join(side.warned) or "none"
        return {"step": f"{outcome} {'warned' if detail[0] else 'clean'} ({text[:160]})"}
    if outcome in ("info", "empty"):
        shown = ", ".join(f"{v:#x}" for v in detail)
    else:
        shown = ", ".join(f"{o:#x}/{s:#x}" for o, _, s in detail[:4]) + (
            " ..." if len(detail) > 4 else "")
    return {"step": f"{outcome} [{shown}]" + (f" avail={avail:#x}" if avail >= 0 else "")}


def _crash(e: BackendCrash) -> str:
    return f"crash {e.kind}"


def plainer(op: Op, chunk: int) -> list[dict]:
    """Simpler variants of an alloc's arguments, plainest first: fewer modifier flags,
    ``min_block_size`` the chunk size, one chunk or half the size."""
    a = op.args
    if op.verb != "alloc":
        return []
    out = [a | {"flags": tuple(f for f in a["flags"] if f != drop)} for drop in a["flags"]]
    if a["min_block_size"] != chunk:
        out.append(a | {"min_block_size": chunk})
    size = a["size"]
    out += [a | {"size": s} for s in (chunk, size // 2 // max(chunk, 1) * chunk) if 0 < s < size]
    return out


class BindingLayer:
    name = "binding"
    chunk = 64  # programs per round trip to a real binding
    parallel = True
    program_at = staticmethod(program_at)
    shrink = partial(shrink, plainer=plainer)

    def features(self, a: CoreBackend, b: CoreBackend) -> frozenset[str]:
        return a.capabilities.features & b.capabilities.features

    def pairs(self, a: CoreBackend, b: CoreBackend, names: tuple[str, str],
              progs: list[Program]) -> Iterator[tuple[Side, Side]]:
        # Both sides start before either is read: a real binding's worker runs its batch
        # while this process runs the model's.
        started = [_start(a, names[0], progs), _start(b, names[1], progs)]
        sides: list[list[Side]] = [[], []]
        for i in sorted((0, 1), key=lambda i: (a, b)[i].own_binding):
            sides[i] = started[i]()
        yield from zip(*sides)

    def compare(self, prog: Program, a: Side, b: Side) -> Divergence | None:
        return compare_sides(a, b, layer="binding", show=_show, show_crash=_crash)

    def ops_run(self, prog: Program, side: Side) -> int:
        """``GpuBuddy::new`` and each operation that ran."""
        return 1 + min(len(side.results), len(prog.ops)) if side.create_errno is None else 1

    def case_yaml(self, finding: Finding, names: tuple[str, str], seed: int | None) -> str:
        return to_yaml(finding, names, seed)


BINDING = BindingLayer()


def to_yaml(finding: Finding, names: tuple[str, str], seed: int | None) -> str:
    """A binding-layer case that expects what the first backend did.

    A case has one allocator, so only the operations of the allocator the divergence
    is on are written (those after the last ``remake`` before it); a divergence at a
    ``remake`` is one of that allocator's teardown, which every case checks at its end.
    ``is_empty`` has no step in the case format and is left out.
    """
    prog, d, truth = finding.program, finding.divergence, finding.sides[0]
    where = d.index if 0 <= d.index < len(prog.ops) else len(prog.ops)
    first = max((i + 1 for i, o in enumerate(prog.ops[:where]) if o.verb == "remake"),
                default=0)
    steps: list[dict] = []
    alloc_i = sum(o.verb == "alloc" for o in prog.ops[:first])
    live: dict[int, bool] = {}
    for i, op in enumerate(prog.ops[first:], first):
        if i >= len(truth.results) or op.verb == "remake":
            break
        outcome, detail, avail = truth.results[i]
        a = op.args
        if op.verb == "empty":
            continue
        if op.verb == "info":
            base, size, chunk = detail
            steps.append({"check": {"base_offset": base, "size": size, "chunk_size": chunk,
                                    "avail": avail}})
        elif op.verb == "drop":
            if not live.get(a["handle"]):
                continue
            live[a["handle"]] = False
            steps.append({"free": f"a{a['handle']}", "expect": {"avail": avail}})
        else:
            body: dict = {"as": f"a{alloc_i}", "mode": a["mode"]}
            if a["mode"] == "range":
                body |= {"start": a["start"], "end": a["end"]}
            body |= {"size": a["size"], "min_block_size": a["min_block_size"]}
            if a["flags"]:
                body["flags"] = list(a["flags"])
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
    flags = sorted({f for op in prog.ops if op.verb == "alloc" for f in op.args["flags"]})
    title = (f"{names[0]} and {names[1]} disagree on a {len(steps)}-step binding sequence "
             "found by differential fuzzing")
    buddy: dict = {"base_offset": prog.base, "size": prog.size, "chunk_size": prog.chunk}
    if truth.create_errno is not None:
        buddy["expect"] = {"error": truth.create_errno}
        steps = []
    case = regression_case("binding-fuzz", title, finding, names, seed, "binding", flags,
                           buddy, steps)
    return yaml.safe_dump(case, sort_keys=False)


__all__ = ["BINDING", "MODIFIERS", "program_at", "run_side", "to_yaml"]
