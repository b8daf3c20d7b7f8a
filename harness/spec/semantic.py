"""Checks a schema cannot say, run on a structurally valid case.

In order:

1. ``params``: values are constants (the engine evaluates them alone) in u64.
2. Scopes: a repeat variable is an identifier that shadows nothing (no param,
   no enclosing repeat's variable, none of ``size``/``chunk_size``/
   ``base_offset``); a param is not one of those three names either.
3. Layers: ``trim``, ``reset_clear``, ``free.cleared``, alloc flags ``range``
   and ``topdown`` and ``clear_avail`` (in ``check`` and in ``expect``) are
   core-only; ``mode`` is binding-only; on the binding layer ``start``/``end``
   go with ``mode: range`` and ``mode: range`` needs both.
4. Expressions use only names in scope: in ``buddy`` only params; in steps the
   params, the variables of enclosing repeats, ``size``, ``chunk_size`` and
   ``base_offset``.  A repeat's ``count``/``max`` and its ``expect`` are in the
   enclosing scope.  Expressions without names are evaluated now (so a value
   outside u64 is reported at load time), and so is every expression that uses
   no repeat variable, once per params combination.
5. Allocation names, in document order (each repeat body taken once): a name
   freed or trimmed must come from an earlier ``alloc as``; a ``{var}`` in a
   name must be an enclosing repeat's variable; a literal name cannot be used
   after it was freed, nor while it is still held be allocated again (checked
   outside repeats), nor be used at all if its only alloc must fail.  A name
   defined in a repeat as ``b{i}`` matches ``b{i}`` (or ``b{j}``) in a later
   repeat and literal names such as ``b2`` anywhere after it; frees inside a
   repeat body count only for the rest of that body.  An alloc with
   ``fail_alloc`` counts as one that must fail.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from harness.spec import limits
from harness.spec.expr import Expr
from harness.spec.model import (
    Alloc,
    Case,
    Check,
    Expect,
    Free,
    Repeat,
    ResetClear,
    Step,
    Trim,
    verb_of,
)
from harness.spec.position import Pos, SpecError

ALLOCATOR_NAMES = ("size", "chunk_size", "base_offset")
MAX_COMBINATIONS = 256  # params combinations evaluated at load time
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class Where:
    """Where each field of a model object was written: ``of(obj, key)``.

    Keys: ``""`` the object itself, ``"k"`` the key ``k``, ``"k="`` its value,
    ``"k[i]"`` the i-th item of a list value.
    """

    def __init__(self) -> None:
        self._pos: dict[tuple[int, str], Pos] = {}
        self._keep: list[object] = []  # ids stay unique while we hold the objects

    def note(self, obj: object, key: str, pos: Pos) -> None:
        if key == "" and (id(obj), "") not in self._pos:
            self._keep.append(obj)
        self._pos[(id(obj), key)] = pos

    def has(self, obj: object, key: str) -> bool:
        return (id(obj), key) in self._pos

    def of(self, obj: object, key: str = "") -> Pos:
        found = self._pos.get((id(obj), key)) or self._pos.get((id(obj), ""))
        return found or getattr(obj, "pos", Pos("?", 1, 1))


def check_case(case: Case, where: Where) -> None:
    """Raise the first semantic problem of ``case`` as a SpecError."""
    _Checker(case, where).run()


@dataclass
class _Def:
    pos: Pos
    failing: bool = False
    injected: bool = False  # failing because of fail_alloc


@dataclass
class _Names:
    live: dict[str, _Def] = field(default_factory=dict)
    freed: dict[str, Pos] = field(default_factory=dict)
    templates: list[tuple[str, Pos]] = field(default_factory=list)

    def copy(self) -> _Names:
        return _Names(dict(self.live), dict(self.freed), list(self.templates))


def _regex(name: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(name)
    # split() alternates literal text and placeholder names
    return re.compile("".join(re.escape(p) if k % 2 == 0 else "[0-9]+"
                              for k, p in enumerate(parts)))


def _sample(name: str) -> str:
    return _PLACEHOLDER.sub("0", name)


def _may_equal(a: str, b: str) -> bool:
    """Whether two name templates can name the same allocation."""
    return bool(_regex(a).fullmatch(_sample(b)) or _regex(b).fullmatch(_sample(a)))


class _Checker:
    def __init__(self, case: Case, where: Where) -> None:
        self.case = case
        self.where = where
        self.params = list(case.params)
        self.core = case.layer == "core"

    def run(self) -> None:
        self.check_params()
        self.check_buddy()
        self.check_steps(self.case.steps, [])
        self.check_names(self.case.steps, _Names(), [], in_repeat=False)
        limits.check(self.case, self.where.of(self.case.params))
        self.check_combinations()

    # -- params and buddy ---------------------------------------------------
    def check_params(self) -> None:
        for name, values in self.case.params.items():
            pos = self.where.of(self.case.params, name)
            if name in ALLOCATOR_NAMES:
                raise SpecError(pos, f"param '{name}' would hide the allocator's {name}",
                                "pick another name")
            if name == "U64_MAX" or name.startswith("SZ_"):
                raise SpecError(pos, f"param '{name}' would hide a built-in constant",
                                "pick another name")
            for e in values:
                for free, off in e.name_offsets():
                    raise e.error(off, f"param values are constants, '{free}' is not known "
                                       "here", "write a number or an expression of numbers")
                e.eval({})

    def check_buddy(self) -> None:
        b = self.case.buddy
        for key in ("size", "chunk_size", "base_offset", "fail_alloc"):
            e = getattr(b, key)
            if e is None:
                continue
            for free, off in e.name_offsets():
                if free not in self.params:
                    hint = did_you_mean(free, self.params)
                    if free in ALLOCATOR_NAMES:
                        hint = "buddy fields may use only params"
                    raise e.error(off, f"unknown name '{free}' in buddy {key}",
                                  hint or self._scope_hint([], buddy=True))
            if not e.names():
                e.eval({})

    def _scope_hint(self, repeat_vars: list[str], *, buddy: bool = False) -> str:
        names = self.params + ([] if buddy else repeat_vars + list(ALLOCATOR_NAMES))
        if not names:
            return "no names are defined here; declare it under params"
        return "names here: " + ", ".join(names)

    # -- steps: layers, scopes, expressions ---------------------------------
    def check_steps(self, steps: list[Step], repeat_vars: list[str]) -> None:
        for step in steps:
            self.check_layer(step)
            for e, signed in _step_exprs(step):
                self.check_expr(e, repeat_vars, signed)
            if isinstance(step, Repeat):
                self.check_repeat_var(step, repeat_vars)
                self.check_steps(step.steps, repeat_vars + [step.var])
            if step.expect is not None:
                self.check_expect(step, step.expect)

    def check_expr(self, e: Expr, repeat_vars: list[str], signed: bool) -> None:
        scope = set(self.params) | set(repeat_vars) | set(ALLOCATOR_NAMES)
        for free, off in e.name_offsets():
            if free not in scope:
                hint = did_you_mean(free, sorted(scope)) or self._scope_hint(repeat_vars)
                raise e.error(off, f"unknown name '{free}' in expression '{e.text}'", hint)
        if not e.names():
            e.eval({}, signed=signed)

    def check_repeat_var(self, step: Repeat, repeat_vars: list[str]) -> None:
        var = step.var
        pos = self.where.of(step, "as=") if self.where.has(step, "as=") else step.pos
        what = None
        if var in self.params:
            what = f"the param '{var}'"
        elif var in repeat_vars:
            what = "the variable of an enclosing repeat"
        elif var in ALLOCATOR_NAMES:
            what = f"the allocator's {var}"
        elif var in ("U64_MAX",) or var.startswith("SZ_"):
            what = "a built-in constant"
        if what:
            raise SpecError(pos, f"repeat variable '{var}' would hide {what}",
                            "pick another name with `as:`")

    def check_expect(self, step: Step, exp: Expect) -> None:
        if exp.each is not None and "aligned" in exp.each:
            e = exp.each["aligned"]
            if not e.names() and e.eval({}) == 0:
                raise SpecError(e.pos, "each aligned must be at least 1")
        if exp.clear_avail is not None and not self.core:
            raise SpecError(self.where.of(exp, "clear_avail"), "clear_avail is core-only",
                            "the binding layer does not report it; set layer: core")

    def check_layer(self, step: Step) -> None:
        verb = verb_of(step)
        if self.core:
            if isinstance(step, Alloc) and step.mode is not None:
                raise SpecError(self.where.of(step, "mode"), "mode is for the binding layer",
                                "on the core layer use flags: [range] or [topdown]")
            return
        if isinstance(step, Trim | ResetClear):
            raise SpecError(self.where.of(step, verb), f"'{verb}' is a core-layer verb",
                            "set layer: core")
        if isinstance(step, Free) and self.where.has(step, "cleared"):
            raise SpecError(self.where.of(step, "cleared"), "free cleared is core-only",
                            "binding-layer free is a drop, with no flags; set layer: core")
        if isinstance(step, Check) and "clear_avail" in step.values:
            raise SpecError(self.where.of(step, "clear_avail"), "clear_avail is core-only",
                            "the binding layer does not report it; set layer: core")
        if isinstance(step, Alloc):
            self.check_binding_alloc(step)

    def check_binding_alloc(self, step: Alloc) -> None:
        for i, flag in enumerate(step.flags):
            if flag in ("range", "topdown"):
                raise SpecError(self.where.of(step, f"flags[{i}]"),
                                f"flag '{flag}' is core-only",
                                f"on the binding layer use mode: {flag}")
        if step.mode == "range":
            for key in ("start", "end"):
                if getattr(step, key) is None:
                    raise SpecError(self.where.of(step, "mode="), f"mode: range needs {key}",
                                    "give start and end, raw offsets")
        else:
            for key in ("start", "end"):
                if getattr(step, key) is not None:
                    raise SpecError(self.where.of(step, key),
                                    f"{key} is only for mode: range on the binding layer",
                                    "add mode: range or drop it")

    # -- allocation names ---------------------------------------------------
    def check_names(self, steps: list[Step], names: _Names, repeat_vars: list[str],
                    *, in_repeat: bool) -> None:
        for step in steps:
            if isinstance(step, Alloc) and step.name is not None:
                self.define(step, names, repeat_vars, in_repeat)
            elif isinstance(step, Free | Trim):
                self.use(step, names, repeat_vars)
                if isinstance(step, Free) and not _PLACEHOLDER.search(step.name):
                    names.live.pop(step.name, None)
                    names.freed[step.name] = step.pos
            elif isinstance(step, Repeat):
                inner = names.copy()
                self.check_names(step.steps, inner, repeat_vars + [step.var], in_repeat=True)
                # definitions made in the body last; its frees do not (count may be 0)
                for name, d in inner.live.items():
                    names.live.setdefault(name, d)
                    names.freed.pop(name, None)
                names.templates = inner.templates

    def placeholders(self, step: Step, name: str, key: str, repeat_vars: list[str]) -> None:
        for var in _PLACEHOLDER.findall(name):
            if var not in repeat_vars:
                hint = ("it is outside every repeat" if not repeat_vars else
                        "repeat variables here: " + ", ".join(repeat_vars))
                raise SpecError(self.where.of(step, key), f"'{{{var}}}' in name '{name}' is "
                                f"not a repeat variable here", hint)

    def define(self, step: Alloc, names: _Names, repeat_vars: list[str],
               in_repeat: bool) -> None:
        name = step.name
        assert name is not None
        self.placeholders(step, name, "as=", repeat_vars)
        if _PLACEHOLDER.search(name):
            names.templates.append((name, step.pos))
            return
        held = names.live.get(name)
        if held is not None and not held.failing and not in_repeat:
            raise SpecError(self.where.of(step, "as="), f"name '{name}' is still held "
                            f"(allocated at line {held.pos.line})",
                            "free it first or pick another name")
        # An injected failure must fire (the engine checks it), so the name is never held.
        failing = (step.expect is not None and step.expect.error is not None
                   or step.fail_alloc is not None)
        names.live[name] = _Def(step.pos, failing, step.fail_alloc is not None)
        names.freed.pop(name, None)

    def use(self, step: Free | Trim, names: _Names, repeat_vars: list[str]) -> None:
        name, verb = step.name, verb_of(step)
        key = "name=" if self.where.has(step, "name=") else f"{verb}="
        pos = self.where.of(step, key)
        self.placeholders(step, name, key, repeat_vars)
        held = names.live.get(name)
        if held is not None:
            if held.failing:
                why = "has fail_alloc" if held.injected else "must fail"
                raise SpecError(pos, f"name '{name}' is never held: its alloc at line "
                                     f"{held.pos.line} {why}")
            return
        if any(_may_equal(name, t) for t, _ in names.templates):
            return
        if any(_may_equal(name, lit) for lit, d in names.live.items() if not d.failing):
            return
        if name in names.freed:
            raise SpecError(pos, f"name '{name}' was already freed at line "
                                 f"{names.freed[name].line}", "allocate it again first")
        known = list(names.live) + [t for t, _ in names.templates]
        hint = did_you_mean(name, known) or ("names held here: " + ", ".join(known)
                                              if known else "no alloc has named anything yet")
        raise SpecError(pos, f"{verb} of '{name}', which no earlier alloc defines with `as`",
                        hint)

    # -- values per params combination --------------------------------------
    def check_combinations(self) -> None:
        combos = self.case.combinations()[:MAX_COMBINATIONS]
        plain = list(_exprs_outside_repeats(self.case.steps))
        b = self.case.buddy
        for ps in combos:
            env = {name: e.eval({}) for name, e in ps.values.items()}
            try:
                env["size"] = b.size.eval(env)
                env["chunk_size"] = b.chunk_size.eval(env)
                env["base_offset"] = b.base_offset.eval(env) if b.base_offset else 0
                for e, signed in plain:
                    if e.names():
                        e.eval(env, signed=signed)
            except SpecError as err:
                if not ps.id:
                    raise
                raise SpecError(err.pos, f"with {ps.id}: {err.message}", err.hint) from None


def _expect_exprs(exp: Expect | None) -> Iterator[tuple[Expr, bool]]:
    if exp is None:
        return
    for block in exp.blocks or []:
        for e in block.values():
            yield e, False
    for e in (exp.count, exp.total, exp.avail, exp.clear_avail, exp.iterations):
        if e is not None:
            yield e, False
    if exp.each:
        for e in exp.each.values():
            yield e, False
    if exp.within:
        yield exp.within[0], False
        yield exp.within[1], False
    if exp.avail_delta is not None:
        yield exp.avail_delta, True


def _step_exprs(step: Step) -> Iterator[tuple[Expr, bool]]:
    """The step's own expressions (a repeat's count, max and expect, not its body)."""
    if isinstance(step, Alloc):
        fields = (step.size, step.start, step.end, step.min_block_size, step.fail_alloc)
    elif isinstance(step, Trim):
        fields = (step.size, step.start, step.fail_alloc)
    elif isinstance(step, Check):
        fields = tuple(step.values.values())
    elif isinstance(step, Repeat):
        fields = (step.count, step.max)
    else:
        fields = ()
    for e in fields:
        if e is not None:
            yield e, False
    yield from _expect_exprs(step.expect)


def _exprs_outside_repeats(steps: list[Step]) -> Iterator[tuple[Expr, bool]]:
    """Expressions that use no repeat variable: every one outside a repeat body."""
    for step in steps:
        yield from _step_exprs(step)

