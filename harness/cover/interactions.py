"""``specs/interactions.yaml``: the C API's input space as classes, and the waived pairs.

The file names families of classes.  A class is a condition on one alloc call
once evaluated (its arguments, the allocator it is made on and the counters
just before it); a step is in the first class of an exclusive family whose
condition holds (the last class of such a family may have none: "otherwise"),
and in every class of a ``multiple`` family whose condition holds.  A
condition is comparisons of u64 expressions (the spec language) joined by
``and`` / ``or`` (``and`` binds tighter), over the names in :data:`NAMES`.

A class or a family may require backend features (the ``requires`` of cases):
a kernel without them does not have the class, so each kernel's report has
its own classes.  Waivers name a pair, ``family.class`` twice, or one side
``*`` or ``family.*`` for every pair with that class, with the reason no case
needs to exercise it; an exact waiver for a pair that a case exercises is an
error, as a stale doc waiver is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.base import FEATURES
from harness.engine.trace import AllocCall
from harness.spec.expr import Expr
from harness.spec.loader import INTERACTIONS_FILE
from harness.spec.position import Pos, SpecError
from harness.spec.yamlpos import YNode, decode, load

FILE = INTERACTIONS_FILE

# What a condition may name; `describe_env` fills them for each call.
NAMES = {
    "size": "the size asked for",
    "min_block_size": "min_block_size (the chunk when the step gives none)",
    "start": "start as passed (0 when not given)",
    "end": "end as passed (0 when not given)",
    "range": "1 with GPU_BUDDY_RANGE_ALLOCATION, else 0",
    "topdown": "1 with GPU_BUDDY_TOPDOWN_ALLOCATION, else 0",
    "contiguous": "1 with GPU_BUDDY_CONTIGUOUS_ALLOCATION, else 0",
    "clear": "1 with GPU_BUDDY_CLEAR_ALLOCATION, else 0",
    "trim_disable": "1 with GPU_BUDDY_TRIM_DISABLE, else 0",
    "chunk_size": "the allocator's chunk size",
    "space": "the allocator's size as it keeps it (rounded down to a chunk multiple)",
    "asked_space": "the size the allocator was created with",
    "roots": "how many roots the space has (one per bit of space / chunk_size)",
    "avail": "avail just before the call",
    "clear_avail": "clear_avail just before the call",
    "pages": "size // chunk_size",
    "size_floor": "the largest power of two not above size",
    "size_pow2": "1 when size is a power of two, else 0",
    "min_pow2": "1 when min_block_size is a power of two, else 0",
}
# One comparison operator; the shifts << and >> are arithmetic, not comparisons.
COMPARISON = re.compile(r"\s*(==|!=|<=|>=|(?<![<>])[<>](?![<>=]))\s*")
FLAGS = ("range", "topdown", "contiguous", "clear", "trim_disable")
KEYS = {"families", "waivers"}
FAMILY_KEYS = {"multiple", "requires", "classes", "about"}
CLASS_KEYS = {"when", "requires", "about", "refused"}


@dataclass(frozen=True)
class Comparison:
    left: Expr
    op: str
    right: Expr

    def holds(self, env: dict[str, int]) -> bool:
        try:
            a, b = self.left.eval(env), self.right.eval(env)
        except SpecError:  # out of u64 (start + size past 2^64): no such value, so false
            return False
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[self.op]


@dataclass(frozen=True)
class Condition:
    """Alternatives (``or``), each a conjunction (``and``) of comparisons; none: always."""

    text: str
    alternatives: tuple[tuple[Comparison, ...], ...]

    def holds(self, env: dict[str, int]) -> bool:
        return not self.alternatives or any(all(c.holds(env) for c in conj)
                                            for conj in self.alternatives)


@dataclass
class InputClass:
    family: str
    name: str
    when: Condition
    requires: frozenset[str]
    pos: Pos
    about: str = ""
    # The argument checks refuse every call in the class (EINVAL) before anything else is
    # read: such a call exercises only the pairs of its refused classes.
    refused: bool = False

    @property
    def id(self) -> str:
        return f"{self.family}.{self.name}"


@dataclass
class Family:
    name: str
    multiple: bool
    classes: list[InputClass]
    pos: Pos


@dataclass
class Waiver:
    sides: tuple[str, str]  # family.class, family.*, or *
    reason: str
    pos: Pos
    kernels: tuple[str, ...] = ()  # only on these kernel versions (6.1 is 6.1.*); () every one

    def applies_to(self, version: str) -> bool:
        return not self.kernels or any(version == k or version.startswith(k + ".")
                                       for k in self.kernels)

    @property
    def exact(self) -> bool:
        return not any(s == "*" or s.endswith(".*") for s in self.sides)

    def covers(self, a: str, b: str) -> bool:
        return _side(self.sides[0], a) and _side(self.sides[1], b) or \
            _side(self.sides[0], b) and _side(self.sides[1], a)


def _side(pattern: str, cls: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return cls.split(".")[0] == pattern[:-2]
    return cls == pattern


@dataclass
class Interactions:
    families: list[Family]
    waivers: list[Waiver] = field(default_factory=list)
    file: str = ""

    def for_kernel(self, version: str, features: frozenset[str]) -> Interactions:
        """The classes a kernel with ``features`` has, and the waivers that apply to it."""
        fams = []
        for f in self.families:
            kept = [c for c in f.classes if c.requires <= features]
            if kept:
                fams.append(Family(f.name, f.multiple, kept, f.pos))
        return Interactions(fams, [w for w in self.waivers if w.applies_to(version)], self.file)

    def classes(self) -> list[InputClass]:
        return [c for f in self.families for c in f.classes]

    def refused(self) -> set[str]:
        return {c.id for c in self.classes() if c.refused}

    def classify(self, env: dict[str, int]) -> list[str]:
        """The class ids of one evaluated call."""
        out = []
        for f in self.families:
            if f.multiple:
                out += [c.id for c in f.classes if c.when.holds(env)]
            else:  # the first class that holds
                out += next(([c.id] for c in f.classes if c.when.holds(env)), [])
        return out

    def pairs(self) -> list[tuple[str, str]]:
        """Every pair of classes a call could be in together, in file order."""
        out = []
        for i, f in enumerate(self.families):
            for j, c in enumerate(f.classes):
                if f.multiple:
                    out += [(c.id, d.id) for d in f.classes[j + 1:]]
                out += [(c.id, d.id) for g in self.families[i + 1:] for d in g.classes]
        return out


def env_of(call: AllocCall, *, space: int, asked_space: int, chunk: int,
           before: tuple[int, int]) -> dict[str, int]:
    """The names of :data:`NAMES` for one core-layer alloc call."""
    size, mbs = call.size, call.min_block_size
    env = {"size": size, "min_block_size": mbs, "start": call.start, "end": call.end,
           "chunk_size": chunk, "space": space, "asked_space": asked_space,
           "roots": bin(space // chunk).count("1") if chunk else 0,
           "avail": before[0], "clear_avail": before[1],
           "pages": size // chunk if chunk else 0,
           "size_floor": 1 << (size.bit_length() - 1) if size else 0,
           "size_pow2": int(size > 0 and size & (size - 1) == 0),
           "min_pow2": int(mbs > 0 and mbs & (mbs - 1) == 0)}
    env.update({f: int(f in call.flags) for f in FLAGS})
    return env


# -- loading -----------------------------------------------------------------

def load_file(path: Path) -> Interactions:
    """Parse and check ``path``; any problem is a SpecError at its line."""
    file = str(path)
    root = load(decode(path.read_bytes(), file), file)
    _keys(root, KEYS, "the interactions file")
    fams_node = root.value.get("families")
    if fams_node is None or fams_node.kind != "map" or not fams_node.value:
        raise SpecError(root.pos, "the interactions file needs `families:`, a mapping of "
                        "family names to their classes")
    families = [_family(name, node, fams_node.key_pos[name])
                for name, node in fams_node.value.items()]
    seen = {c.id for f in families for c in f.classes}
    waivers = []
    w_node = root.value.get("waivers")
    if w_node is not None:
        if w_node.kind != "list":
            raise SpecError(w_node.pos, "`waivers:` is a list of {pair: [A, B], reason: ...}")
        waivers = [_waiver(n, seen, {f.name for f in families}) for n in w_node.value]
    return Interactions(families, waivers, file)


def _keys(node: YNode, allowed: set[str], what: str) -> None:
    if node.kind != "map":
        raise SpecError(node.pos, f"{what} must be a mapping, not {node.describe()}")
    for k in node.value:
        if k not in allowed:
            raise SpecError(node.key_pos[k], f"unknown key '{k}' in {what}",
                            f"allowed: {', '.join(sorted(allowed))}")


def _requires(node: YNode | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    items = node.value if node.kind == "list" else [node]
    out = set()
    for n in items:
        if n.kind != "scalar" or n.value not in FEATURES:
            raise SpecError(n.pos, f"unknown feature {n.describe()}",
                            f"one of {', '.join(sorted(FEATURES))}")
        out.add(n.value)
    return frozenset(out)


def _family(name: str, node: YNode, pos: Pos) -> Family:
    _keys(node, FAMILY_KEYS, f"family '{name}'")
    multiple = node.value.get("multiple")
    is_multiple = bool(multiple.value) if multiple is not None else False
    requires = _requires(node.value.get("requires"))
    cls_node = node.value.get("classes")
    if cls_node is None or cls_node.kind != "map" or not cls_node.value:
        raise SpecError(pos, f"family '{name}' needs `classes:`, a mapping of class names "
                        "to {when: CONDITION}")
    classes = []
    items = list(cls_node.value.items())
    for i, (cname, cnode) in enumerate(items):
        cpos = cls_node.key_pos[cname]
        if cnode.kind == "scalar" and cnode.value is None:
            cnode = YNode("map", cpos, {})
        _keys(cnode, CLASS_KEYS, f"class '{name}.{cname}'")
        when = cnode.value.get("when")
        if when is None and (is_multiple or i != len(items) - 1):
            raise SpecError(cpos, f"class '{name}.{cname}' needs `when:`",
                            "only the last class of an exclusive family may be 'otherwise'")
        about, refused = cnode.value.get("about"), cnode.value.get("refused")
        classes.append(InputClass(name, cname, _condition(when), requires |
                                  _requires(cnode.value.get("requires")), cpos,
                                  about.value if about is not None else "",
                                  refused is not None and refused.value is True))
    return Family(name, is_multiple, classes, pos)


def _condition(node: YNode | None) -> Condition:
    if node is None:
        return Condition("otherwise", ())
    if node.kind != "scalar" or not isinstance(node.value, str):
        raise SpecError(node.pos, f"a condition is a string like 'size < min_block_size', "
                        f"not {node.describe()}")
    text = node.value
    pos = node.text_pos or node.pos
    alternatives = []
    for alt in re.split(r"\bor\b", text):
        conj = []
        for part in re.split(r"\band\b", alt):
            pieces = COMPARISON.split(part.strip())
            if len(pieces) != 3 or not pieces[0] or not pieces[2]:
                raise SpecError(pos, f"'{part.strip()}' in '{text}' is not one comparison",
                                "write LEFT OP RIGHT with OP one of == != < <= > >=")
            left, right = Expr(pieces[0], pos, exact=False), Expr(pieces[2], pos, exact=False)
            unknown = (left.names() | right.names()) - set(NAMES)
            if unknown:
                raise SpecError(pos, f"unknown name '{sorted(unknown)[0]}' in '{text}'",
                                f"names: {', '.join(NAMES)}")
            conj.append(Comparison(left, pieces[1], right))
        alternatives.append(tuple(conj))
    return Condition(text, tuple(alternatives))


def _waiver(node: YNode, classes: set[str], families: set[str]) -> Waiver:
    _keys(node, {"pair", "reason", "kernels"}, "a waiver")
    pair, reason = node.value.get("pair"), node.value.get("reason")
    if pair is None or pair.kind != "list" or len(pair.value) != 2:
        raise SpecError(node.pos, "a waiver needs `pair: [family.class, family.class]`")
    if reason is None or reason.kind != "scalar" or not str(reason.value or "").strip():
        raise SpecError(node.pos, "a waiver needs a one-line `reason:`")
    sides = []
    for s in pair.value:
        v = s.value if s.kind == "scalar" else None
        ok = isinstance(v, str) and (v == "*" or v in classes or
                                     (v.endswith(".*") and v[:-2] in families))
        if not ok:
            raise SpecError(s.pos, f"{s.describe()} names no class of this file",
                            "write family.class, family.* or *")
        sides.append(v)
    if sides[0] == sides[1] == "*":
        raise SpecError(pair.pos, "a waiver of every pair waives nothing in particular",
                        "name at least one class")
    kernels: list[str] = []
    k_node = node.value.get("kernels")
    if k_node is not None:
        items = k_node.value if k_node.kind == "list" else [k_node]
        for k in items:
            if k.kind != "scalar" or not re.fullmatch(r"\d+(\.\d+)*", str(k.value or "")):
                raise SpecError(k.pos, f"{k.describe()} is not a kernel version",
                                "write versions such as 6.1 or 6.12")
            kernels.append(str(k.value))
    return Waiver((sides[0], sides[1]), str(reason.value).strip(), node.pos, tuple(kernels))
