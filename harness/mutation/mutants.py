"""Mutants of the allocator's C: one small syntactic change each.

The source is split into tokens (comments, strings and preprocessor lines are
skipped), function bodies are found by brace depth, and inside every function
that is not excluded each operator below proposes its changes:

* ``ror``: a relational operator for its neighbour (``<`` / ``<=``, ``>`` / ``>=``,
  ``==`` / ``!=``), and ``&&`` / ``||``;
* ``aor``: a binary arithmetic or bitwise operator for its opposite (``+`` / ``-``,
  ``*`` / ``/``, ``<<`` / ``>>``, ``&`` / ``|``, the compound assignments, ``++`` / ``--``);
* ``const``: an integer literal plus or minus one;
* ``negate``: the condition of an ``if`` or ``while`` negated;
* ``delete``: an expression statement (a call, an assignment) removed;
* ``swap``: the first two arguments of a call swapped.

A mutant's id names its function, operator and a digest of what it changes and of
how many identical changes come before it in that function, not its line: ids
survive edits elsewhere in the file, so the list of equivalent mutants stays
valid across kernel versions where the code is the same.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

# Printing helpers and module init/exit: nothing the API returns depends on them, and
# module init/exit never run in user space.
EXCLUDED = re.compile(r"(_print$|_module_init$|_module_exit$)")
OPERATORS = ("ror", "aor", "const", "negate", "delete", "swap")

_TOKEN = re.compile(r"""
    (?P<skip>/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op><<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|[-+*/%&|^<>=!~?:;,.(){}\[\]])
  | (?P<ws>\s+)
  | (?P<other>.)
""", re.S | re.X)

ROR = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "&&": "||",
       "||": "&&"}
AOR = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*", "<<": ">>", ">>": "<<", "&": "|",
       "|": "&", "^": "|", "+=": "-=", "-=": "+=", "|=": "&=", "&=": "|=", "<<=": ">>=",
       ">>=": "<<=", "++": "--", "--": "++"}
KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "case", "do", "else", "goto",
            "break", "continue", "struct", "union", "enum", "typeof", "__typeof__", "default"}
# Operators that only make sense binary here: a unary + - * & after them is left alone.
_OPERAND_END = {"num", "id", ")", "]"}
# A '*' or '&' after these is a declarator or a cast, not an operator.
TYPES = {"void", "char", "short", "int", "long", "unsigned", "signed", "bool", "u8", "u16",
         "u32", "u64", "s64", "size_t", "const"}
_STATEMENT_SECOND = {"(", "=", "->", ".", "+=", "-=", "|=", "&=", "<<=", ">>=", "++", "--",
                     "["}


@dataclass(frozen=True)
class Tok:
    kind: str  # num, id, op
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Mutant:
    id: str
    function: str
    operator: str
    line: int
    start: int
    end: int
    original: str
    replacement: str

    def apply(self, source: str) -> str:
        return source[:self.start] + self.replacement + source[self.end:]

    def describe(self) -> str:
        o, r = (" ".join(x.split()) for x in (self.original, self.replacement))
        return f"line {self.line} in {self.function}: {self.operator} '{o}' -> '{r}'"

    def diff(self, source: str, filename: str) -> str:
        a = source.splitlines(keepends=True)
        b = self.apply(source).splitlines(keepends=True)
        return "".join(difflib.unified_diff(a, b, f"a/{filename}", f"b/{filename}", n=1))


def tokens(source: str) -> list[Tok]:
    return [Tok(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(source)
            if m.lastgroup in ("num", "id", "op")]


def _strip_preprocessor(source: str) -> str:
    """The source with preprocessor lines blanked (same length, so offsets stay valid)."""
    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group())

    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", blank, source, flags=re.M)


def _match(toks: list[Tok], i: int) -> int:
    """Index of the bracket closing the one at ``i``."""
    opening, closing = toks[i].text, {"(": ")", "[": "]", "{": "}"}[toks[i].text]
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].text == opening:
            depth += 1
        elif toks[j].text == closing:
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def functions(toks: list[Tok]) -> list[tuple[str, int, int]]:
    """(name, index of '{', index of '}') of every function body at file scope."""
    out = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.text == "{":
            j = _match(toks, i)
            if i >= 1 and toks[i - 1].text == ")":
                depth, k = 0, i - 1
                while k >= 0:  # back to the '(' of the parameter list
                    depth += toks[k].text == ")"
                    depth -= toks[k].text == "("
                    if depth == 0:
                        break
                    k -= 1
                if k >= 1 and toks[k - 1].kind == "id":
                    out.append((toks[k - 1].text, i, j))
            i = j + 1
        else:
            i += 1
    return out


def generate(source: str) -> list[Mutant]:
    """Every mutant of ``source``, in file order."""
    clean = _strip_preprocessor(source)
    toks = tokens(clean)
    line_of = _line_index(source)
    found: list[Mutant] = []
    for name, lo, hi in functions(toks):
        if EXCLUDED.search(name):
            continue
        seen: dict[tuple[str, str, str], int] = {}

        def add(op: str, start: int, end: int, repl: str, _name: str = name,
                seen: dict = seen) -> None:
            orig = source[start:end]
            key = (op, orig, repl)
            n = seen.get(key, 0)
            seen[key] = n + 1
            digest = hashlib.sha1(f"{op}\0{orig}\0{repl}\0{n}".encode()).hexdigest()[:8]
            found.append(Mutant(f"{_name}:{op}:{digest}", _name, op, line_of(start), start,
                                end, orig, repl))

        _mutate_body(toks, lo + 1, hi, add)
    found.sort(key=lambda m: (m.start, m.operator, m.replacement))
    return found


def _mutate_body(toks: list[Tok], lo: int, hi: int, add) -> None:
    stmt_start = True
    for i in range(lo, hi):
        t, prev = toks[i], toks[i - 1]
        binary = prev.kind in _OPERAND_END or prev.text in (")", "]")
        binary = binary and not (prev.kind == "id" and (
            prev.text in KEYWORDS or prev.text in TYPES
            or toks[i - 2].text in ("struct", "union", "enum")))
        if t.kind == "op" and t.text in ROR and (t.text not in ("<", ">") or binary):
            add("ror", t.start, t.end, ROR[t.text])
        if t.kind == "op" and t.text in AOR:
            if t.text in ("++", "--") or t.text.endswith("=") or binary:
                add("aor", t.start, t.end, AOR[t.text])
        if t.kind == "num":
            value = int(re.sub(r"[uUlL]+$", "", t.text), 0)
            suffix = re.search(r"[uUlL]*$", t.text).group()
            add("const", t.start, t.end, f"{value + 1}{suffix}")
            if value > 0:
                add("const", t.start, t.end, f"{value - 1}{suffix}")
        if t.kind == "id" and t.text in ("if", "while") and toks[i + 1].text == "(":
            j = _match(toks, i + 1)
            a, b = toks[i + 2].start, toks[j - 1].end
            add("negate", a, b, f"!({_text(toks, i + 2, j)})")
        if stmt_start and t.kind == "id" and t.text not in KEYWORDS \
                and toks[i + 1].text in _STATEMENT_SECOND:
            end = _statement_end(toks, i, hi)
            if end is not None:
                add("delete", t.start, toks[end].end, ";")
        if t.kind == "id" and t.text not in KEYWORDS and toks[i + 1].text == "(" \
                and prev.text not in ("struct", "union", "enum"):
            _swap(toks, i + 1, add)
        stmt_start = t.text in (";", "{", "}") or (t.text == ")" and _closes_control(toks, i))


def _text(toks: list[Tok], a: int, b: int) -> str:
    """The source text of tokens a..b-1, single-spaced where the source had space."""
    out = []
    for k in range(a, b):
        if k > a and toks[k].start > toks[k - 1].end:
            out.append(" ")
        out.append(toks[k].text)
    return "".join(out)


def _statement_end(toks: list[Tok], i: int, hi: int) -> int | None:
    depth = 0
    for k in range(i, hi):
        x = toks[k].text
        if x == "{" and depth == 0:  # a loop macro with a body: not a simple statement
            return None
        if x in "([{":
            depth += 1
        elif x in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif x == ";" and depth == 0:
            return k
    return None


def _closes_control(toks: list[Tok], i: int) -> bool:
    """Whether the ')' at ``i`` ends the head of an if/while/for (a statement follows)."""
    depth = 0
    for k in range(i, -1, -1):
        depth += toks[k].text == ")"
        depth -= toks[k].text == "("
        if depth == 0:
            return k >= 1 and toks[k - 1].text in ("if", "while", "for")
    return False


def _swap(toks: list[Tok], open_i: int, add) -> None:
    close = _match(toks, open_i)
    args: list[tuple[int, int]] = []
    depth, start = 0, open_i + 1
    for k in range(open_i + 1, close):
        x = toks[k].text
        if x in "([{":
            depth += 1
        elif x in ")]}":
            depth -= 1
        elif x == "," and depth == 0:
            args.append((start, k))
            start = k + 1
    args.append((start, close))
    if len(args) < 2 or any(a >= b for a, b in args[:2]):
        return
    (a0, a1), (b0, b1) = args[0], args[1]
    first, second = _text(toks, a0, a1), _text(toks, b0, b1)
    if first == second:
        return
    add("swap", toks[a0].start, toks[b1 - 1].end, f"{second}, {first}")


def _line_index(source: str):
    starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    return line_of
