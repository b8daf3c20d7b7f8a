"""The case model: what the loader builds and the engine runs.

Every number in a case stays an unevaluated :class:`~harness.spec.expr.Expr`
until the engine evaluates it in an environment (params, repeat variables,
``size``/``chunk_size``/``base_offset``), so one loaded case serves every
parameter combination.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from harness.spec.expr import Expr
from harness.spec.position import Pos

SOURCE_KINDS = ("rustdoc", "kernel-doc", "review", "kunit", "regression", "extra")
LAYERS = ("binding", "core")
MODES = ("simple", "topdown", "range")


@dataclass(frozen=True)
class Source:
    kind: str
    ref: str
    quote: str | None = None
    pos: Pos | None = field(default=None, compare=False)  # of the quote, for its errors


@dataclass
class Expect:
    """Expectations on one step; None means 'not stated'."""

    pos: Pos
    error: str | None = None
    blocks: list[dict[str, Expr]] | None = None  # keys: offset, order, size
    count: Expr | None = None
    total: Expr | None = None
    each: dict[str, Expr] | None = None  # keys: size, order, aligned
    contiguous: bool | None = None
    within: tuple[Expr, Expr] | None = None
    sorted: str | None = None  # ascending | descending
    avail: Expr | None = None
    avail_delta: Expr | None = None  # the only signed expectation
    clear_avail: Expr | None = None
    iterations: Expr | None = None  # repeat-until only


@dataclass
class Alloc:
    pos: Pos
    size: Expr
    name: str | None = None  # `as`
    mode: str | None = None  # binding: simple (default) | topdown | range
    start: Expr | None = None
    end: Expr | None = None
    min_block_size: Expr | None = None  # default: chunk_size
    flags: tuple[str, ...] = ()
    expect: Expect | None = None
    # The n-th memory allocation the step makes fails on purpose (1 = the first).
    fail_alloc: Expr | None = None


@dataclass
class Free:
    pos: Pos
    name: str
    cleared: bool = False
    expect: Expect | None = None


@dataclass
class Trim:
    pos: Pos
    name: str
    size: Expr
    start: Expr | None = None
    expect: Expect | None = None
    fail_alloc: Expr | None = None


@dataclass
class ResetClear:
    pos: Pos
    is_clear: bool
    expect: Expect | None = None


@dataclass
class Check:
    pos: Pos
    # any of avail, clear_avail, size, chunk_size, base_offset
    values: dict[str, Expr] = field(default_factory=dict)
    expect: Expect | None = None


@dataclass
class Repeat:
    pos: Pos
    steps: list[Step]
    var: str = "i"
    count: Expr | None = None
    until: str | None = None  # errno that ends the loop
    max: Expr | None = None
    expect: Expect | None = None


Step = Alloc | Free | Trim | ResetClear | Check | Repeat


def verb_of(step: Step) -> str:
    return {
        Alloc: "alloc",
        Free: "free",
        Trim: "trim",
        ResetClear: "reset_clear",
        Check: "check",
        Repeat: "repeat",
    }[type(step)]


@dataclass
class BuddySpec:
    pos: Pos
    size: Expr
    chunk_size: Expr
    base_offset: Expr | None = None
    error: str | None = None  # expect: {error: ...} on creation
    fail_alloc: Expr | None = None  # fail the n-th memory allocation of creation


@dataclass(frozen=True)
class Limits:
    """The work a case may ask for (:mod:`harness.spec.limits` checks it)."""

    combinations: int = 1024  # params product
    operations: int = 100_000  # steps run per combination, repeats multiplied through
    until: int = 10_000  # iterations of one repeat-until


@dataclass(frozen=True)
class ParamSet:
    """One combination of a case's params: pytest id and the value expressions."""

    id: str
    values: dict[str, Expr]


@dataclass
class Case:
    id: str
    title: str
    source: Source
    buddy: BuddySpec
    steps: list[Step]
    pos: Pos
    layer: str = "binding"
    requires: frozenset[str] = frozenset()
    params: dict[str, list[Expr]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    cites: tuple[str, ...] = ()  # ids of documented items the case exercises
    cite_pos: tuple[Pos, ...] = ()
    limits: Limits = Limits()
    raw: dict[str, Any] = field(default_factory=dict)  # the YAML mapping, for rendering
    # Of the path and bytes of the file it was loaded from ("": not loaded from a file):
    # what an outcome remembered from an earlier run must have been computed from.
    digest: str = ""

    @property
    def file(self) -> str:
        return self.pos.file

    def combinations(self) -> list[ParamSet]:
        """Cartesian product of params, in declaration order; one empty set if none."""
        if not self.params:
            return [ParamSet("", {})]
        names = list(self.params)
        out = []
        for combo in itertools.product(*(self.params[n] for n in names)):
            values = dict(zip(names, combo))
            pid = ",".join(f"{n}={v.text}" for n, v in values.items())
            out.append(ParamSet(pid, values))
        return out
