"""How much work one case may ask for, checked when it loads, before anything runs.

Three bounds, each with a default the corpus stays far inside and a ceiling a
case can raise it to with the optional ``limits`` key::

    limits: {combinations: 5000, operations: 2M, until: 50000}

* ``combinations``: the product of the ``params`` value counts (one run, one
  pytest item each);
* ``operations``: steps one combination can execute, repeat counts multiplied
  through nesting (an iteration whose body runs nothing still counts as one);
* ``until``: iterations of one ``repeat: {until: ...}``; an ``until`` loop
  without ``max`` stops there.

Counts are bounded without running anything: each expression gets an upper
bound by interval arithmetic over every value its names can take (a param over
its listed values, a repeat variable over ``0 .. count - 1``), so a count that
depends on a param or an enclosing loop is bounded for every combination in one
pass.  The bound is sound, never below what the engine would run.
"""

from __future__ import annotations

import difflib

from harness.spec.expr import U64_MAX, Expr
from harness.spec.model import Case, Limits, Repeat, Step
from harness.spec.position import Pos, SpecError
from harness.spec.yamlpos import YNode

KEYS = ("combinations", "operations", "until")
DEFAULT = Limits()
# What a case may raise each limit to: beyond these a run is not a test any more.
CEILING = Limits(combinations=100_000, operations=100_000_000, until=100_000_000)

Interval = tuple[int, int]
FULL: Interval = (0, U64_MAX)


def parse(node: YNode) -> Limits:
    """The ``limits`` mapping of a case: constant positive integers up to the ceilings."""
    if node.kind != "map":
        raise SpecError(node.pos, f"limits must be a mapping, got {node.describe()}",
                        "e.g. limits: {operations: 1M}")
    values: dict[str, int] = {}
    for key, child in node.value.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise SpecError(node.key_pos[key], f"unknown key '{key}' in limits",
                            f"did you mean '{close[0]}'?" if close else
                            "limits takes " + ", ".join(KEYS))
        if child.kind != "scalar" or child.value is None or isinstance(child.value, bool) \
                or not isinstance(child.value, int | str):
            raise SpecError(child.pos, f"limits {key} must be a number, got "
                                       f"{child.describe()}", "e.g. 1M")
        e = Expr(str(child.value), child.pos, exact=str(child.value) == child.text)
        if e.names():
            raise SpecError(child.pos, f"limits {key} must be a constant", "e.g. 1M")
        value, ceiling = e.eval({}), getattr(CEILING, key)
        if not 1 <= value <= ceiling:
            raise SpecError(child.pos, f"limits {key} is {value:,}, outside 1..{ceiling:,}",
                            f"the default is {getattr(DEFAULT, key):,}")
        values[key] = value
    return Limits(**values)


def bound(e: Expr, env: dict[str, Interval]) -> Interval:
    """[low, high] of every value ``e`` can take with each name in its interval.

    Values the engine would refuse (negative, past u64, a zero divisor, a shift of
    64 or more) are clamped, since they end the case before the count is used.
    """
    stack: list[Interval] = []
    for op in e._code:  # the parsed expression in postfix order
        kind = op[0]
        if kind == "num":
            stack.append((op[1], op[1]))
            continue
        if kind == "name":
            stack.append(env.get(op[1], FULL))
            continue
        if kind == "neg":
            stack.pop()
            stack.append((0, 0))
            continue
        (b_lo, b_hi), (a_lo, a_hi) = stack.pop(), stack.pop()
        sym = op[1]
        if sym == "+":
            lo, hi = a_lo + b_lo, a_hi + b_hi
        elif sym == "-":
            lo, hi = max(a_lo - b_hi, 0), max(a_hi - b_lo, 0)
        elif sym == "*":
            lo, hi = a_lo * b_lo, a_hi * b_hi
        elif sym == "//":
            lo, hi = a_lo // max(b_hi, 1), a_hi // max(b_lo, 1)
        elif sym == "%":
            lo, hi = 0, min(a_hi, max(b_hi - 1, 0))
        elif sym == "<<":
            lo, hi = a_lo << min(b_lo, 63), a_hi << min(b_hi, 63)
        else:  # ">>"
            lo, hi = a_lo >> min(b_hi, 63), a_hi >> min(b_lo, 63)
        stack.append((min(lo, U64_MAX), min(hi, U64_MAX)))
    return stack[-1]


def check(case: Case, params_pos: Pos) -> None:
    """Raise a SpecError at the part of ``case`` that asks for more than its limits."""
    lim = case.limits
    product = 1
    for values in case.params.values():
        product *= len(values)
    if product > lim.combinations:
        raise SpecError(params_pos,
                        f"params multiply to {product:,} combinations, over the limit of "
                        f"{lim.combinations:,}",
                        _raise_hint("combinations") + ", or split the case")
    env = {name: _values(exprs) for name, exprs in case.params.items()}
    b = case.buddy
    env["size"] = bound(b.size, env)
    env["chunk_size"] = bound(b.chunk_size, env)
    env["base_offset"] = bound(b.base_offset, env) if b.base_offset is not None else (0, 0)
    _Work(lim).steps(case.steps, env, 0)


def _values(exprs: list[Expr]) -> Interval:
    got = [bound(e, {}) for e in exprs]
    return min(lo for lo, _ in got), max(hi for _, hi in got)


def _raise_hint(key: str) -> str:
    return (f"if the case needs it, raise it with `limits: {{{key}: N}}` on the case, "
            f"up to {getattr(CEILING, key):,}")


class _Work:
    def __init__(self, lim: Limits) -> None:
        self.lim = lim

    def steps(self, steps: list[Step], env: dict[str, Interval], before: int) -> int:
        """Upper bound of operations ``steps`` run; ``before`` ran earlier in the case."""
        total = 0
        for step in steps:
            if isinstance(step, Repeat):
                n, pos = self.iterations(step, env)
                inner = dict(env)
                inner[step.var] = (0, max(n - 1, 0))
                body = self.steps(step.steps, inner, before + total) if n else 0
                total += n * max(body, 1)
            else:
                total += 1
                pos = step.pos
            if before + total > self.lim.operations:
                what = "repeat" if isinstance(step, Repeat) else "step"
                raise SpecError(pos, f"the case can run up to {before + total:,} operations "
                                     f"by the end of this {what}, over the limit of "
                                     f"{self.lim.operations:,}",
                                _raise_hint("operations"))
        return total

    def iterations(self, step: Repeat, env: dict[str, Interval]) -> tuple[int, Pos]:
        if step.count is not None:
            return bound(step.count, env)[1], step.count.pos
        if step.max is None:
            return self.lim.until, step.pos
        n = bound(step.max, env)[1]
        if n > self.lim.until:
            raise SpecError(step.max.pos, f"repeat max can be {n:,}, over the limit of "
                                          f"{self.lim.until:,} iterations of an until loop",
                            _raise_hint("until"))
        return n, step.max.pos
