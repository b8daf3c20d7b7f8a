"""u64 expressions of spec files: parsed by a small tokenizer and precedence climber.

Grammar (Python precedence, all operators left-associative)::

    expr   := shift
    shift  := sum (('<<' | '>>') sum)*
    sum    := prod (('+' | '-') prod)*
    prod   := unary (('*' | '//' | '%') unary)*
    unary  := '-' unary | atom
    atom   := NUMBER | NAME | '(' expr ')'

Numbers are decimal or ``0x`` hex, with ``_`` allowed between two digits, and
an optional upper-case binary suffix ``K M G T P E`` (``4K`` = 4096).  Lower
case suffixes are refused with a hint, so ``4k`` never means something else by
accident.  ``U64_MAX`` is 2**64 - 1.  ``SZ_<n>[K|M|G|T|P|E]`` (the naming of
include/linux/sizes.h) is accepted for any power of two that fits in u64, e.g.
``SZ_1``, ``SZ_4K``, ``SZ_2G``, ``SZ_1T``.  Every other identifier is a free
name looked up in the environment at evaluation.

Unary minus exists so that ``avail_delta`` can be written ``-16M``; anywhere
else a negative value is an error.  Evaluation uses Python integers: unsigned,
every intermediate and the result must lie in ``[0, 2**64)``; signed
(``avail_delta``), intermediates may lie in ``(-2**64, 2**64)`` and so may the
result.  Nothing ever wraps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.spec.position import Pos, SpecError

U64_LIMIT = 1 << 64
U64_MAX = U64_LIMIT - 1
SUFFIXES = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
MAX_NESTING = 64  # parentheses and unary minus; keeps the parser's recursion small
MAX_LENGTH = 4096

_SZ_NAME = re.compile(r"SZ_([0-9]+)([KMGTPE]?)")
_DEC = re.compile(r"[0-9](?:_?[0-9])*")
_HEX = re.compile(r"0[xX]([0-9a-fA-F](?:_?[0-9a-fA-F])*)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[0-9A-Za-z_]*")

_PRECEDENCE = {"<<": 1, ">>": 1, "+": 2, "-": 2, "*": 3, "//": 3, "%": 3}


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def is_builtin_name(name: str) -> bool:
    """Names that are constants, never free: ``U64_MAX`` and ``SZ_*``."""
    return name == "U64_MAX" or name.startswith("SZ_")


def sz_value(name: str) -> int | None:
    """Value of a ``SZ_<n><suffix>`` name, None if it is not one (or not a power of two)."""
    m = _SZ_NAME.fullmatch(name)
    if not m or (len(m[1]) > 1 and m[1].startswith("0")):
        return None
    value = int(m[1]) << SUFFIXES.get(m[2], 0)
    if value == 0 or value & (value - 1) or value >= U64_LIMIT:
        return None
    return value


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | name | op | lpar | rpar | end
    text: str
    off: int
    value: int = 0


class Expr:
    """One expression as written in a spec; parsed at construction, evaluated on demand."""

    __slots__ = ("text", "pos", "_exact", "_code", "_names", "shown")

    def __init__(self, text: str, pos: Pos, *, exact: bool = True) -> None:
        """``exact``: ``pos`` is the column of ``text[0]`` and the text sits on one line
        as written, so an offending token can be pointed at precisely."""
        self.text = text
        self.pos = pos
        self._exact = exact
        self.shown = _one_line(text)  # for messages, which are always one line
        self._code: list[tuple] = []
        self._names: set[str] = set()
        _Parser(self).parse()

    @classmethod
    def of_int(cls, value: int, pos: Pos) -> Expr:
        """A plain YAML integer: its decimal text."""
        return cls(str(value), pos)

    # -- positions ----------------------------------------------------------
    def pos_at(self, offset: int) -> Pos:
        if not self._exact:
            return self.pos
        return Pos(self.pos.file, self.pos.line, self.pos.col + offset)

    def error(self, offset: int, message: str, hint: str | None = None) -> SpecError:
        return SpecError(self.pos_at(offset), message, hint)

    # -- queries ------------------------------------------------------------
    def names(self) -> set[str]:
        """Free identifiers (not ``U64_MAX``/``SZ_*``)."""
        return set(self._names)

    def postfix(self) -> list[tuple]:
        """The parsed expression in postfix order: ``("num", value, off)``, ``("name", name,
        off)``, ``("neg", "-", off)`` or ``("bin", operator, off)``; for translating it."""
        return list(self._code)

    def name_offsets(self) -> list[tuple[str, int]]:
        """Every free name with the offset of each occurrence, in order."""
        return [(op[1], op[2]) for op in self._code if op[0] == "name"]

    def eval(self, env: Mapping[str, int], *, signed: bool = False) -> int:
        low = -U64_MAX if signed else 0
        stack: list[int] = []
        for op in self._code:
            kind = op[0]
            if kind == "num":
                stack.append(op[1])
                continue
            if kind == "name":
                if op[1] not in env:
                    raise self.error(op[2], f"unknown name '{op[1]}' in expression '{self.shown}'")
                value = env[op[1]]
            elif kind == "neg":
                value = -stack.pop()
            else:
                right = stack.pop()
                left = stack.pop()
                value = self._binary(op[1], left, right, op[2])
            if not low <= value < U64_LIMIT:
                raise self._range_error(value, op, signed)
            stack.append(value)
        (result,) = stack
        return result

    def _binary(self, sym: str, a: int, b: int, off: int) -> int:
        if sym == "+":
            return a + b
        if sym == "-":
            return a - b
        if sym == "*":
            return a * b
        if sym in ("//", "%"):
            if b == 0:
                what = "division" if sym == "//" else "modulo"
                raise self.error(off, f"{what} by zero in expression '{self.shown}'")
            return a // b if sym == "//" else a % b
        if not 0 <= b < 64:
            raise self.error(off, f"shift count {b} is out of range 0..63 in expression "
                                  f"'{self.shown}'")
        return a << b if sym == "<<" else a >> b

    def _range_error(self, value: int, op: tuple, signed: bool) -> SpecError:
        off = op[2]
        if value < 0 and not signed:
            return self.error(off, f"expression '{self.shown}' goes negative ({value}); "
                                   "values are u64", "only avail_delta may be negative")
        return self.error(off, f"expression '{self.shown}' leaves the u64 range "
                               f"({'-' if value < 0 else ''}{abs(value):#x})",
                          "values must lie in [0, 2**64)")

    # -- plumbing -----------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def __str__(self) -> str:
        return self.text


class _Parser:
    def __init__(self, expr: Expr) -> None:
        self.e = expr
        self.text = expr.text
        self.shown = expr.shown
        self.toks = self._tokenize()
        self.i = 0
        self.depth = 0

    def fail(self, off: int, message: str, hint: str | None = None) -> SpecError:
        return self.e.error(off, message, hint)

    # -- tokens -------------------------------------------------------------
    def _tokenize(self) -> list[_Tok]:
        s = self.text
        if len(s) > MAX_LENGTH:
            raise self.fail(0, f"expression is longer than {MAX_LENGTH} characters")
        toks: list[_Tok] = []
        i = 0
        while i < len(s):
            c = s[i]
            if c in " \t\r\n":
                i += 1
            elif c.isascii() and c.isdigit():
                tok = self._number(i)
                toks.append(tok)
                i += len(tok.text)
            elif c.isascii() and (c.isalpha() or c == "_"):
                m = _IDENT.match(s, i)
                assert m
                toks.append(self._name(m[0], i))
                i = m.end()
            elif s.startswith(("<<", ">>", "//", "**"), i):
                sym = s[i:i + 2]
                if sym == "**":
                    raise self.fail(i, "'**' is not an operator", "write powers of two as 1 << n")
                toks.append(_Tok("op", sym, i))
                i += 2
            elif c in "+-*%":
                toks.append(_Tok("op", c, i))
                i += 1
            elif c == "/":
                raise self.fail(i, "'/' is not an operator", "use '//' for integer division")
            elif c in "<>":
                raise self.fail(i, f"'{c}' is not an operator", f"shifts are written '{c * 2}'")
            elif c == "(":
                toks.append(_Tok("lpar", c, i))
                i += 1
            elif c == ")":
                toks.append(_Tok("rpar", c, i))
                i += 1
            else:
                shown = c if c.isprintable() else f"U+{ord(c):04X}"
                raise self.fail(i, f"unexpected character '{shown}' in expression '{self.shown}'",
                                "operators are + - * // % << >> ( )")
        toks.append(_Tok("end", "", len(s)))
        return toks

    def _number(self, i: int) -> _Tok:
        s = self.text
        word = _WORD.match(s, i)
        assert word
        w = word[0]
        m = _HEX.match(w)
        if m and (w[:2] in ("0x", "0X")):
            digits, rest = m[1], w[m.end():]
            base = 16
        else:
            m = _DEC.match(w)
            assert m
            digits, rest = m[0], w[m.end():]
            base = 10
            if w.startswith(("0x", "0X")):
                raise self.fail(i, f"bad hex number '{w}'", "write hex as 0x1f, digits 0-9 a-f")
        if len(digits) > 1 and base == 10 and digits[0] == "0":
            raise self.fail(i, f"bad number '{w}': decimal numbers do not start with 0",
                            "write hex as 0x...")
        shift = 0
        if rest:
            if rest in SUFFIXES:
                shift = SUFFIXES[rest]
            elif rest.upper() in SUFFIXES:
                raise self.fail(i + len(w) - len(rest), f"size suffix '{rest}' must be upper "
                                f"case", f"write {w[:len(w) - len(rest)]}{rest.upper()}")
            elif rest.startswith("_"):
                raise self.fail(i, f"bad number '{w}'", "'_' may only stand between two digits")
            else:
                raise self.fail(i + len(w) - len(rest), f"bad number '{w}': unknown suffix "
                                f"'{rest}'", "binary suffixes are K M G T P E, 4K = 4096")
        value = int(digits.replace("_", ""), base) << shift
        if value >= U64_LIMIT:
            raise self.fail(i, f"number {w} does not fit in u64", "values must be below 2**64")
        return _Tok("num", w, i, value)

    def _name(self, name: str, i: int) -> _Tok:
        if name == "U64_MAX":
            return _Tok("num", name, i, U64_MAX)
        if name.startswith("SZ_"):
            value = sz_value(name)
            if value is None:
                raise self.fail(i, f"'{name}' is not a size name",
                                "SZ_<n> with n a power of two and optional K M G T P E, "
                                "e.g. SZ_4K")
            return _Tok("num", name, i, value)
        return _Tok("name", name, i)

    # -- grammar ------------------------------------------------------------
    def parse(self) -> None:
        if self.toks[0].kind == "end":
            raise self.fail(0, "empty expression", "write a number such as 4K")
        self._expr(0)
        tok = self.toks[self.i]
        if tok.kind != "end":
            if tok.kind == "rpar":
                raise self.fail(tok.off, f"unmatched ')' in expression '{self.shown}'")
            raise self.fail(tok.off, f"expected an operator before '{tok.text}' in "
                                     f"expression '{self.shown}'")

    def _expr(self, min_prec: int) -> None:
        self._unary()
        while True:
            tok = self.toks[self.i]
            prec = _PRECEDENCE.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec <= min_prec:
                return
            self.i += 1
            self._expr(prec)
            self.e._code.append(("bin", tok.text, tok.off))

    def _nest(self, off: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(off, f"expression nests deeper than {MAX_NESTING} levels")

    def _unary(self) -> None:
        tok = self.toks[self.i]
        if tok.kind == "op" and tok.text == "-":
            self._nest(tok.off)
            self.i += 1
            self._unary()
            self.e._code.append(("neg", "-", tok.off))
            self.depth -= 1
            return
        self._atom()

    def _atom(self) -> None:
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "num":
            self.e._code.append(("num", tok.value, tok.off))
        elif tok.kind == "name":
            self.e._code.append(("name", tok.text, tok.off))
            self.e._names.add(tok.text)
        elif tok.kind == "lpar":
            self._nest(tok.off)
            self._expr(0)
            close = self.toks[self.i]
            if close.kind != "rpar":
                raise self.fail(tok.off, f"'(' is never closed in expression '{self.shown}'")
            self.i += 1
            self.depth -= 1
        elif tok.kind == "end":
            raise self.fail(tok.off, f"expression '{self.shown}' ends early",
                            "an operator needs a value after it")
        else:
            raise self.fail(tok.off, f"expected a number, name or '(' but found '{tok.text}' "
                                     f"in expression '{self.shown}'")
