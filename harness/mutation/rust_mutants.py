"""Mutants of the Rust binding (``buddy.rs``): one small change each, with operators that fit Rust.

The source is split into tokens (comments, strings, char literals and attributes
are skipped), and items are found by brace structure, so each token knows the
function it is in (``Type::method`` inside an ``impl``) or the item around it.
Inside function bodies the operators below propose their changes; ``flag`` also
works outside them, where the binding maps its flags to the C's:

* ``ror``: a comparison for its neighbour (``<`` / ``<=``, ``>`` / ``>=``, ``==`` / ``!=``),
  and ``&&`` / ``||``;
* ``aor``: an arithmetic or bitwise operator for its opposite (``+`` / ``-``, ``*`` / ``/``,
  ``&`` / ``|``, ``^``, the compound assignments);
* ``shift``: ``<<`` / ``>>``;
* ``overflow``: ``a + b`` (``-``, ``*``, ``<<``) made wrapping or saturating, and
  ``wrapping_*`` / ``saturating_*`` / ``checked_*`` calls for one another;
* ``minmax``: ``min`` / ``max``;
* ``width``: a cast narrowed on the way (``x as u64`` becomes ``x as u32 as u64``);
* ``const``: an integer literal plus or minus one;
* ``bool``: a ``!`` removed, ``true`` / ``false``, an ``if`` or ``while`` condition negated;
* ``try``: a ``?`` removed (the early return on an error is gone);
* ``return``: a ``return`` statement removed;
* ``arm``: a ``match`` arm given another arm's value;
* ``flag``: a ``bindings::GPU_BUDDY_*`` flag constant for another of the tree's flags;
* ``drop``: a statement removed from a ``Drop`` or ``PinnedDrop`` implementation;
* ``swap``: two neighbouring arguments of a call, or elements of a tuple, swapped;
* ``value``: a function's whole body replaced by a value of its return type (``0`` and
  ``1`` for an integer, ``true`` and ``false`` for a ``bool``, nothing for ``()``).

Binary operators are told from unary ones and from generics by their spacing, as
rustfmt writes them (``a < b``, ``Vec<u8>``, ``&self``): the kernel's Rust is
rustfmt-formatted. A change the compiler refuses is a mutant like any other; the
runner reports it as did-not-compile.

Ids are built as the C's are (:mod:`harness.mutation.mutants`): scope, operator and a
digest of the change and of how many identical changes come before it in that scope,
so they survive edits elsewhere in the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.mutation.mutants import Mutant, Tok, _line_index, _match

OPERATORS = ("ror", "aor", "shift", "overflow", "minmax", "width", "const", "bool", "try",
             "return", "arm", "flag", "drop", "swap", "value")

_TOKEN = re.compile(r"""
    (?P<skip>//[^\n]*|/\*.*?\*/|b?r(?P<hashes>\#*)".*?"(?P=hashes)|b?"(?:\\.|[^"\\])*"
             |b?'(?:\\.|[^'\\\n])'|'\\[^']+')
  | (?P<life>'[A-Za-z_]\w*)
  | (?P<num>0[xX][0-9a-fA-F_]+(?:[ui](?:8|16|32|64|128|size))?
            |\d[\d_]*(?:[ui](?:8|16|32|64|128|size))?)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op><<=|>>=|\.\.=|\.\.|::|->|=>|==|!=|<=|>=|&&|\|\||<<|>>|[-+*/%^&|]=
           |[-+*/%^&|<>=!~?:;,.@\#$(){}\[\]])
  | (?P<ws>\s+)
  | (?P<other>.)
""", re.S | re.X)

ROR = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "&&": "||",
       "||": "&&"}
AOR = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*", "&": "|", "|": "&", "^": "|",
       "+=": "-=", "-=": "+=", "*=": "/=", "/=": "*=", "|=": "&=", "&=": "|=", "^=": "|="}
SHIFT = {"<<": ">>", ">>": "<<", "<<=": ">>=", ">>=": "<<="}
ARITH_METHOD = {"+": "add", "-": "sub", "*": "mul"}
# Binding strength of the binary operators, for the extent of an operand.
PRECEDENCE = {"*": 10, "/": 10, "%": 10, "+": 9, "-": 9, "<<": 8, ">>": 8, "&": 7, "^": 6,
              "|": 5, "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4, "&&": 3, "||": 2,
              "..": 1, "..=": 1}
# What a ``value`` mutant puts in place of a body, by return type.
VALUES = {**{ty: ("0", "1") for ty in ("u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
                                       "i32", "i64", "i128", "isize")},
          "bool": ("true", "false"), "": ("",), "()": ("",)}
# A cast to a type is narrowed through the next smaller one of its kind.
NARROWER = {"u128": "u64", "u64": "u32", "usize": "u32", "u32": "u16", "u16": "u8",
            "i128": "i64", "i64": "i32", "isize": "i32", "i32": "i16", "i16": "i8"}
KEYWORDS = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "false",
            "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
            "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
            "type", "unsafe", "use", "where", "while", "dyn"}
_STOP_LEFT = {"(", "[", "{", ",", ";", "=", "=>", "->", ":", "return", "let", "if", "while",
              "match", "in", "else", "unsafe"}


@dataclass
class Scope:
    kind: str  # fn, impl, item, block
    name: str
    trait: str = ""  # an impl's trait (Drop, PinnedDrop, ...)
    returns: str = ""  # a fn's return type ("" for unit)


@dataclass
class Tokens:
    """The code tokens of a file, and for each the function body (or item) it is in."""

    source: str
    toks: list[Tok]
    scope: list[str] = field(default_factory=list)  # Type::fn, or the item's name
    in_fn: list[bool] = field(default_factory=list)
    in_drop: list[bool] = field(default_factory=list)  # the body of a Drop/PinnedDrop fn
    bodies: list[tuple[int, str]] = field(default_factory=list)  # fn '{' index, return type

    def spaced(self, i: int) -> bool:
        """Whether token ``i`` has white space on both sides (a binary operator)."""
        t = self.toks[i]
        return (t.start > 0 and self.source[t.start - 1].isspace()
                and t.end < len(self.source) and self.source[t.end].isspace())


def tokens(source: str) -> list[Tok]:
    """Code tokens with attributes (``#[..]``, ``#![..]``) left out."""
    raw = [Tok(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(source)
           if m.lastgroup in ("num", "id", "life", "op")]
    out: list[Tok] = []
    i = 0
    while i < len(raw):
        if raw[i].text == "#" and i + 1 < len(raw) and raw[i + 1].text in ("[", "!"):
            j = i + 1 + (raw[i + 1].text == "!")
            i = _match(raw, j) + 1 if j < len(raw) and raw[j].text == "[" else i + 1
            continue
        out.append(raw[i])
        i += 1
    return out


def _after_generics(head: list[Tok], k: int) -> int:
    """Index past a ``<...>`` starting at ``k`` (``k`` itself if there is none)."""
    if k < len(head) and head[k].text == "<":
        depth = 0
        for j in range(k, len(head)):
            depth += head[j].text.count("<") - head[j].text.count(">")
            if depth <= 0:
                return j + 1
    return k


def _open_scope(head: list[Tok]) -> Scope:
    words = [t.text for t in head]
    if "fn" in words:
        k = words.index("fn")
        ret = words[words.index("->") + 1:] if "->" in words else []
        ret = ret[:ret.index("where")] if "where" in ret else ret
        return Scope("fn", words[k + 1] if k + 1 < len(words) else "fn", returns="".join(ret))
    if "impl" in words:
        k = _after_generics(head, words.index("impl") + 1)
        rest = head[k:]
        names = [t.text for t in rest if t.kind == "id" and t.text not in KEYWORDS]
        if "for" in [t.text for t in rest]:
            f = [t.text for t in rest].index("for")
            trait = next((t.text for t in reversed(rest[:f]) if t.kind == "id"), "")
            target = next((t.text for t in rest[f + 1:] if t.kind == "id"
                           and t.text not in KEYWORDS), "impl")
            return Scope("impl", target, trait)
        return Scope("impl", names[0] if names else "impl")
    for kw in ("struct", "enum", "trait", "union", "mod"):
        if kw in words:
            k = words.index(kw)
            return Scope("item", words[k + 1] if k + 1 < len(words) else kw)
    return Scope("block", "")


def analyse(source: str) -> Tokens:
    toks = tokens(source)
    t = Tokens(source, toks)
    stack: list[Scope] = []
    head: list[Tok] = []  # tokens since the last ; { } at this brace level
    for i, tok in enumerate(toks):
        fn = next((s for s in reversed(stack) if s.kind == "fn"), None)
        if fn is not None:
            outer = stack[:stack.index(fn)]
            impl = next((s for s in reversed(outer) if s.kind == "impl"), None)
            t.scope.append(f"{impl.name}::{fn.name}" if impl else fn.name)
            t.in_drop.append(fn.name == "drop" and impl is not None
                             and impl.trait in ("Drop", "PinnedDrop"))
        else:
            item = next((s for s in reversed(stack) if s.kind in ("item", "impl")), None)
            t.scope.append(item.name if item else "module")
            t.in_drop.append(False)
        # The closing brace of a body is not inside it.
        t.in_fn.append(fn is not None and not (tok.text == "}" and stack[-1] is fn))
        if tok.text == "{":
            stack.append(_open_scope(head) if fn is None else Scope("block", ""))
            if stack[-1].kind == "fn":
                t.bodies.append((i, stack[-1].returns))
            head = []
        elif tok.text == "}":
            if stack:
                stack.pop()
            head = []
        elif tok.text == ";":
            head = []
        else:
            head.append(tok)
    return t


# -- the generator ------------------------------------------------------------------

Add = Callable[[str, int, int, str, str], None]


def generate(source: str, flags: list[str] | None = None) -> list[Mutant]:
    """Every mutant of ``source``, in file order. ``flags``: the ``GPU_BUDDY_*`` flag names
    a ``flag`` mutant may substitute (default: those the source itself names)."""
    t = analyse(source)
    line_of = _line_index(source)
    names = flags if flags is not None else sorted(
        {x.text for x in t.toks if x.kind == "id" and x.text.startswith("GPU_BUDDY_")})
    seen: dict[tuple[str, str, str, str], int] = {}
    found: list[Mutant] = []
    used: dict[str, set[str]] = {}  # flag names each item (outside functions) uses
    for i, x in enumerate(t.toks):
        if x.text in names and not t.in_fn[i]:
            used.setdefault(t.scope[i], set()).add(x.text)

    def add(op: str, start: int, end: int, repl: str, scope: str) -> None:
        orig = source[start:end]
        if orig == repl:
            return
        key = (scope, op, orig, repl)
        n = seen.get(key, 0)
        seen[key] = n + 1
        digest = hashlib.sha1(f"{op}\0{orig}\0{repl}\0{n}".encode()).hexdigest()[:8]
        found.append(Mutant(f"{scope}:{op}:{digest}", scope, op, line_of(start), start, end,
                            orig, repl))

    for i, tok in enumerate(t.toks):
        scope = t.scope[i]
        if tok.kind == "id" and tok.text in names and i >= 2 and t.toks[i - 1].text == "::":
            # An enum's discriminants must differ: a flag its enum already has never builds.
            taken = set() if t.in_fn[i] else used.get(scope, set())
            for other in names:
                if other not in taken:
                    add("flag", tok.start, tok.end, other, scope)
        if not t.in_fn[i]:
            continue
        _operators(t, i, lambda op, a, b, r, _s=scope: add(op, a, b, r, _s))
        if t.in_drop[i] and tok.text == ";":
            s = _statement_start(t, i)
            if s is not None and not _binds_what_follows(t, s, i):
                add("drop", t.toks[s].start, tok.end, "", scope)
    for open_i, returns in t.bodies:
        close = _match(t.toks, open_i)
        if close > open_i + 1:
            for v in VALUES.get(returns, ()):
                add("value", t.toks[open_i].start, t.toks[close].end, f"{{ {v} }}" if v else "{}",
                    t.scope[open_i + 1])
    found.sort(key=lambda m: (m.start, m.operator, m.replacement))
    # Two operators can make the same file (an arm's value that is another flag): one mutant.
    unique: dict[str, Mutant] = {}
    for m in found:
        unique.setdefault(hashlib.sha1(m.apply(source).encode()).hexdigest(), m)
    return list(unique.values())


def _operators(t: Tokens, i: int, add: Callable[[str, int, int, str], None]) -> None:
    toks = t.toks
    tok = toks[i]
    text = tok.text
    binary = tok.kind == "op" and t.spaced(i)
    if binary and text in ROR:
        add("ror", tok.start, tok.end, ROR[text])
    if tok.kind == "op" and text in AOR and (binary or text.endswith("=")):
        add("aor", tok.start, tok.end, AOR[text])
    if tok.kind == "op" and text in SHIFT and (binary or text.endswith("=")):
        add("shift", tok.start, tok.end, SHIFT[text])
    if binary and text in (*ARITH_METHOD, "<<"):
        _overflow_binary(t, i, add)
    if tok.kind == "id" and i >= 1 and toks[i - 1].text == "." and i + 1 < len(toks) \
            and toks[i + 1].text == "(":
        _overflow_method(t, i, add)
    if tok.kind == "id" and text in ("min", "max") and i + 1 < len(toks) \
            and toks[i + 1].text == "(" and toks[i - 1].text in (".", "::"):
        add("minmax", tok.start, tok.end, "max" if text == "min" else "min")
    if text == "as" and i + 1 < len(toks) and toks[i + 1].text in NARROWER:
        ty = toks[i + 1]
        add("width", tok.start, ty.end, f"as {NARROWER[ty.text]} as {ty.text}")
    if tok.kind == "num" and toks[i - 1].text != ".":  # not a tuple field (self.0)
        _const(tok, add)
    macro_bang = toks[i - 1].kind == "id" and toks[i - 1].end == tok.start  # name!(..)
    if text == "!" and not macro_bang and i + 1 < len(toks) and toks[i + 1].start == tok.end:
        add("bool", tok.start, tok.end, "")
    if text in ("true", "false"):
        add("bool", tok.start, tok.end, "false" if text == "true" else "true")
    if text in ("if", "while") and i + 1 < len(toks) and toks[i + 1].text != "let":
        end = _condition_end(t, i + 1)
        if end is not None:
            cond = t.source[toks[i + 1].start:toks[end - 1].end]
            add("bool", toks[i + 1].start, toks[end - 1].end, f"!({cond})")
    if text == "?":
        add("try", tok.start, tok.end, "")
    if text == "return":
        end = next((k for k in range(i, len(toks)) if toks[k].text in (";", "}")), None)
        if end is not None and toks[end].text == ";":
            add("return", tok.start, toks[end].end, "")
    if text == "match":
        _arms(t, i, add)
    if text == "(":
        _swap(t, i, add)


def _const(tok: Tok, add) -> None:
    m = re.fullmatch(r"(0[xX][0-9a-fA-F_]+|\d[\d_]*)([ui]\w+)?", tok.text)
    if not m:
        return
    value, suffix = int(m[1].replace("_", ""), 0), m[2] or ""
    add("const", tok.start, tok.end, f"{value + 1}{suffix}")
    if value > 0:
        add("const", tok.start, tok.end, f"{value - 1}{suffix}")


def _operand_left(t: Tokens, i: int, prec: int) -> int:
    """Index of the first token of the left operand of the binary operator at ``i``."""
    depth = 0
    for k in range(i - 1, -1, -1):
        x = t.toks[k].text
        if x in ")]}":
            depth += 1
            continue
        if x in "([{":
            if depth == 0:
                return k + 1
            depth -= 1
            continue
        if depth:
            continue
        if x in _STOP_LEFT or (x in PRECEDENCE and t.spaced(k) and PRECEDENCE[x] < prec) \
                or (x.endswith("=") and x not in PRECEDENCE):
            return k + 1
    return 0


def _operand_right(t: Tokens, i: int, prec: int) -> int:
    """Index one past the last token of the right operand of the operator at ``i``."""
    depth = 0
    for k in range(i + 1, len(t.toks)):
        x = t.toks[k].text
        if x in "([" or (x == "{" and depth):
            depth += 1
            continue
        if x in ")]}":
            if depth == 0:
                return k
            depth -= 1
            continue
        if depth:
            continue
        if x in (",", ";", "{", "=>", "else") \
                or (x in PRECEDENCE and t.spaced(k) and PRECEDENCE[x] <= prec) \
                or (x.endswith("=") and x not in PRECEDENCE):
            return k
    return len(t.toks)


def _overflow_binary(t: Tokens, i: int, add) -> None:
    toks, op = t.toks, t.toks[i].text
    prec = PRECEDENCE[op]
    a, b = _operand_left(t, i, prec), _operand_right(t, i, prec)
    if a >= i or b <= i + 1:
        return
    left = t.source[toks[a].start:toks[i - 1].end]
    right = t.source[toks[i + 1].start:toks[b - 1].end]
    recv = left if _postfix(t, a, i) else f"({left})"
    kinds = ("wrapping",) if op == "<<" else ("wrapping", "saturating")
    name = "shl" if op == "<<" else ARITH_METHOD[op]
    for kind in kinds:
        add("overflow", toks[a].start, toks[b - 1].end, f"{recv}.{kind}_{name}({right})")


def _postfix(t: Tokens, a: int, b: int) -> bool:
    """Whether tokens ``a..b-1`` are one postfix expression (a path, calls, fields, a
    parenthesised group), which a method call can follow without parentheses."""
    depth = 0
    for k in range(a, b):
        x = t.toks[k]
        if x.text in "([{":
            depth += 1
        elif x.text in ")]}":
            depth -= 1
        elif depth == 0 and not (x.kind in ("id", "num") and x.text != "as"
                                 or x.text in (".", "::", "?")):
            return False
    return True


def _overflow_method(t: Tokens, i: int, add) -> None:
    m = re.fullmatch(r"(wrapping|saturating|checked)_(add|sub|mul|shl|shr|pow)", t.toks[i].text)
    if not m:
        return
    kind, name = m[1], m[2]
    tok = t.toks[i]
    if kind == "checked":
        # Option for Option: the checked call that can never fail.
        close = _match(t.toks, i + 1)
        a = _receiver_start(t, i - 1)
        recv = t.source[t.toks[a].start:t.toks[i - 2].end]
        args = t.source[t.toks[i + 2].start:t.toks[close - 1].end] if close > i + 2 else ""
        for other in ("wrapping", "saturating"):
            if name in ("shl", "shr") and other == "saturating":
                continue
            add("overflow", t.toks[a].start, t.toks[close].end,
                f"Some({recv}.{other}_{name}({args}))")
        return
    for other in ("wrapping", "saturating"):
        if other != kind and not (name in ("shl", "shr") and other == "saturating"):
            add("overflow", tok.start, tok.end, f"{other}_{name}")


def _receiver_start(t: Tokens, dot: int) -> int:
    """First token of the postfix expression before the ``.`` at ``dot``."""
    k = dot - 1
    while k >= 0:
        x = t.toks[k].text
        if x in ")]":
            depth = 0
            while k >= 0:
                depth += t.toks[k].text in ")]"
                depth -= t.toks[k].text in "(["
                if depth == 0:
                    break
                k -= 1
            k -= 1
            continue
        if t.toks[k].kind in ("id", "num"):
            if k >= 1 and t.toks[k - 1].text in (".", "::"):
                k -= 2
                continue
            return k
        return k + 1
    return 0


def _condition_end(t: Tokens, k: int) -> int | None:
    """Index of the ``{`` that opens the body of the ``if``/``while`` whose condition
    starts at ``k``."""
    depth = 0
    for j in range(k, len(t.toks)):
        x = t.toks[j].text
        if x in "([":
            depth += 1
        elif x in ")]":
            depth -= 1
        elif x == "{" and depth == 0:
            return j if j > k else None
        elif x == ";":
            return None
    return None


def _binds_what_follows(t: Tokens, s: int, semi: int) -> bool:
    """Whether the statement ``s..semi`` is a ``let`` whose name the rest of its function
    uses (deleting it never builds)."""
    toks = t.toks
    if toks[s].text != "let":
        return False
    name = toks[s + 2].text if toks[s + 1].text == "mut" else toks[s + 1].text
    k = semi + 1
    while k < len(toks) and t.in_fn[k] and t.scope[k] == t.scope[semi]:
        if toks[k].text == name:
            return True
        k += 1
    return False


def _statement_start(t: Tokens, semi: int) -> int | None:
    """First token of the statement that the ``;`` at ``semi`` ends."""
    depth = 0
    for k in range(semi - 1, -1, -1):
        x = t.toks[k].text
        if x in ")]}":
            depth += 1
        elif x in "([{":
            if depth == 0:
                return k + 1 if x == "{" and k + 1 < semi else None
            depth -= 1
        elif x == ";" and depth == 0:
            return k + 1 if k + 1 < semi else None
    return None


def _arms(t: Tokens, i: int, add) -> None:
    """Every arm's value replaced by each other arm's."""
    toks = t.toks
    brace = _condition_end(t, i + 1)
    if brace is None:
        return
    close = _match(toks, brace)
    bodies: list[tuple[int, int]] = []  # token ranges of the arms' values
    k = brace + 1
    while k < close:
        arrow, depth = None, 0
        for j in range(k, close):
            x = toks[j].text
            depth += x in "([{"
            depth -= x in ")]}"
            if x == "=>" and depth == 0:
                arrow = j
                break
        if arrow is None:
            break
        j = arrow + 1
        end = _match(toks, j) + 1 if toks[j].text == "{" else _comma(toks, j, close)
        bodies.append((arrow + 1, end))
        k = end + 1 if end < close and toks[end].text == "," else end
    texts = [t.source[toks[a].start:toks[b - 1].end] for a, b in bodies]
    for (a, b), mine in zip(bodies, texts):
        for other in dict.fromkeys(texts):
            if other != mine:
                add("arm", toks[a].start, toks[b - 1].end, other)


def _comma(toks: list[Tok], k: int, close: int) -> int:
    """Index of the first comma outside brackets from ``k`` on (``close`` if none)."""
    while k < close and toks[k].text != ",":
        k = _match(toks, k) + 1 if toks[k].text in "([{" else k + 1
    return min(k, close)


def _swap(t: Tokens, i: int, add) -> None:
    """Neighbouring arguments of a call, or elements of a tuple, swapped."""
    toks = t.toks
    if i >= 1 and toks[i - 1].text in ("<", "::", "!"):  # a type or a macro's input
        return
    close = _match(toks, i)
    args: list[tuple[int, int]] = []
    start = i + 1
    while start < close:
        end = _comma(toks, start, close)
        args.append((start, end))
        start = end + 1
    if len(args) < 2:
        return
    for (a0, a1), (b0, b1) in zip(args, args[1:]):
        if a0 >= a1 or b0 >= b1:
            continue
        first = t.source[toks[a0].start:toks[a1 - 1].end]
        second = t.source[toks[b0].start:toks[b1 - 1].end]
        if first != second:
            add("swap", toks[a0].start, toks[b1 - 1].end, f"{second}, {first}")
