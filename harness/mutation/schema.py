"""Mutant schemata: every mutant of the allocator's C in one build, picked at run time.

Each mutant lives in the smallest piece of code that can carry it beside the
original: the condition of an ``if``/``while``/``switch``, a ``for`` clause or an
initializer becomes ``(bh_mutant == K ? (mutated) : (original))``; an expression,
``return`` or deleted statement becomes ``{ if (bh_mutant == K) mutated else
original }``.  A mutant in no such piece (a loop macro's head, a ``case`` label)
gets a copy of its whole function, which the original enters while it is active.
``bh_mutant`` is read from ``$BH_MUTANT`` when the worker starts (0: the
unmutated code), so one build serves every mutant and a mutant costs a worker
start, not a compile.

What a mutant's own build would report is kept: ``#line`` directives give every
variant the lines of the original (``WARN_ON`` and ``BUG_ON`` name the same
place), ``__func__`` is the original name inside a copy, and a mutant that
removes lines moves the line numbers of the code after it as its own file does.
A mutant that does not compile is found by one ``-fsyntax-only`` pass over a
schema whose variants carry file names of their own (:func:`broken`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from harness.mutation.mutants import (
    KEYWORDS,
    TYPES,
    Mutant,
    Tok,
    _match,
    _statement_end,
    _strip_preprocessor,
)
from harness.mutation.mutants import functions as _functions
from harness.mutation.mutants import tokens as _tokens

# Inside a variant, WARN_ON and BUG_ON report __LINE__ as it is; elsewhere the active
# mutant's line shift applies (bh_line), as in a file where that mutant removed lines.
# BH_IS(K) tests whether mutant K is active where its code would run.  The reach build
# (-DBH_REACH, run only with no mutant active) also marks K as reached there, in memory
# the harness reads after each corpus item: an item that never reaches a mutant's code
# runs the same with that mutant active (harness.mutation.reach).
PREAMBLE = """\
int bh_mutant;
#ifdef BH_REACH
extern unsigned char *bh_reached;
#define BH_IS(k) (bh_reached[k] = 1, bh_mutant == (k))
#define BH_MARK(k) (bh_reached[k] = 1)
#else
#define BH_IS(k) (bh_mutant == (k))
#define BH_MARK(k) ((void)0)
#endif
static int bh_shift_after = 1 << 30, bh_shift;
static int bh_line(int line) { return line > bh_shift_after ? line + bh_shift : line; }
#define BH_IN_COPY 0
#undef BUG_ON
#define BUG_ON(c) do { if (__builtin_expect(!!(c), 0)) \\
	bh_bug(#c, __FILE__, BH_IN_COPY ? __LINE__ : bh_line(__LINE__), __func__); } while (0)
#undef WARN_ON
#define WARN_ON(c) ({ int bh_c_ = !!(c); \\
	bh_c_ && bh_warn(#c, __FILE__, BH_IN_COPY ? __LINE__ : bh_line(__LINE__), __func__); })
"""


@dataclass(frozen=True)
class Function:
    """A function body at file scope: where it is and how to call it."""

    name: str
    decl: int  # offset where its declaration starts
    at: int  # offset of its name
    open: int  # offset of '{'
    close: int  # offset just past '}'
    head: str  # declaration text up to the name
    params: str  # the parameter list, without parentheses
    args: str  # the parameter names, comma-separated
    void: bool
    lo: int  # token index of '{'
    hi: int  # token index of '}'


@dataclass(frozen=True)
class Region:
    """A piece of code that can hold variants: ``expr`` (a ternary) or ``stmt`` (an if)."""

    kind: str
    start: int
    end: int


def functions(source: str, toks: list[Tok]) -> dict[str, Function]:
    out: dict[str, Function] = {}
    for name, lo, hi in _functions(toks):
        k = lo - 1
        while toks[k].text != "(" or _match(toks, k) != lo - 1:
            k -= 1
        name_i = k - 1
        d = name_i
        while d > 0 and toks[d - 1].text not in (";", "}", ")"):
            d -= 1
        head = source[toks[d].start:toks[name_i].start]
        params = source[toks[k].end:toks[lo - 1].start]
        out[name] = Function(name, toks[d].start, toks[name_i].start, toks[lo].start,
                             toks[hi].end, " ".join(head.split()) + " ",
                             " ".join(params.split()),
                             ", ".join(_param_names(toks, k + 1, lo - 1)), _returns_void(head),
                             lo, hi)
    return out


def _param_names(toks: list[Tok], lo: int, hi: int) -> list[str]:
    names, start, depth = [], lo, 0
    for k in range(lo, hi + 1):
        x = toks[k].text if k < hi else ","
        if x in "([":
            depth += 1
        elif x in ")]":
            depth -= 1
        elif x == "," and depth == 0:
            ids = [t.text for t in toks[start:k] if t.kind == "id"]
            if ids and ids != ["void"]:
                names.append(ids[-1])
            start = k + 1
    return names


def _returns_void(head: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z_]\w*|\*", head)
             if w not in ("static", "inline", "__always_inline", "__init", "__exit",
                          "__maybe_unused", "noinline")]
    return words == ["void"]


# -- regions ----------------------------------------------------------------------

# Macros that declare a variable: a statement of theirs cannot move into a block.
_DECLARES = re.compile(r"^(LIST_HEAD|DEFINE_\w+|DECLARE_\w+)$")


def regions(toks: list[Tok], lo: int, hi: int) -> list[Region]:
    """The pieces of the body between tokens ``lo`` and ``hi`` that can hold variants,
    as source offsets, innermost last."""
    out: list[Region] = []
    i = lo
    while i < hi:
        t = toks[i]
        x = t.text
        if x in ("if", "while", "switch") and toks[i + 1].text == "(":
            j = _match(toks, i + 1)
            if j > i + 2:
                out.append(Region("expr", toks[i + 2].start, toks[j - 1].end))
            i = j + 1
            if x == "while" and toks[i].text == ";":  # the end of a do-while
                i += 1
            continue
        if x == "for" and toks[i + 1].text == "(":
            j = _match(toks, i + 1)
            a = i + 2
            for k in range(i + 2, j + 1):
                if k == j or toks[k].text == ";" and _depth(toks, i + 2, k) == 0:
                    if k > a and toks[a].text not in TYPES and toks[a].text != "struct":
                        out.append(Region("expr", toks[a].start, toks[k - 1].end))
                    a = k + 1
            i = j + 1
            continue
        if x in ("{", "}", "else", "do", ";"):
            i += 1
            continue
        if x in ("case", "default", "goto", "break", "continue") or (
                t.kind == "id" and toks[i + 1].text == ":"):
            i = _next(toks, i, hi, (";", ":")) + 1
            continue
        end = _statement_end(toks, i, hi)
        if end is None:  # a loop macro's head: 'name(...) {' or 'name(...) stmt'
            i = _skip_head(toks, i, hi)
            continue
        if _is_declaration(toks, i):
            out += _initializers(toks, i, end)
        elif not _DECLARES.match(x):
            out.append(Region("stmt", t.start, toks[end].end))
        i = end + 1
    return out


def _depth(toks: list[Tok], a: int, b: int) -> int:
    d = 0
    for k in range(a, b):
        d += toks[k].text in "([{"
        d -= toks[k].text in ")]}"
    return d


def _next(toks: list[Tok], i: int, hi: int, stops: tuple[str, ...]) -> int:
    d = 0
    for k in range(i, hi):
        x = toks[k].text
        if x in stops and d == 0:
            return k
        d += x in "([{"
        d -= x in ")]}"
    return hi


def _skip_head(toks: list[Tok], i: int, hi: int) -> int:
    """Past the parenthesized head of a loop macro at ``i`` (its body is scanned next)."""
    k = i
    while k < hi and toks[k].text != "(":
        k += 1
    return _match(toks, k) + 1 if k < hi else hi


def _is_declaration(toks: list[Tok], i: int) -> bool:
    a, b = toks[i], toks[i + 1]
    if a.text in ("struct", "union", "enum", "const", "static", "unsigned", "signed"):
        return True
    if a.kind == "id" and a.text in TYPES:
        return True
    return a.kind == "id" and a.text not in KEYWORDS and (
        b.kind == "id" or b.text == "*" and toks[i + 2].kind == "id"
        and toks[i + 3].text in ("=", ";", ",", "["))


def _initializers(toks: list[Tok], i: int, end: int) -> list[Region]:
    out, k = [], i
    while k < end:
        if toks[k].text == "=" and _depth(toks, i, k) == 0:
            e = k + 1
            while e < end and not (toks[e].text == "," and _depth(toks, k + 1, e) == 0):
                e += 1
            if e > k + 1 and toks[k + 1].text != "{":
                out.append(Region("expr", toks[k + 1].start, toks[e - 1].end))
            k = e
        k += 1
    return out


# -- rendering ---------------------------------------------------------------------

# Deleting 'x = ...;' can leave x unset where it is read: what that reads is the
# compiler's choice, and beside the assignment (in an if) the compiler may take the
# assigned value anyway.  Such a mutant gets a copy of its function, without the
# assignment, as in its own file.
# 'x = f(x);' read x first, so x was set before: that deletion stays in its region.
_ASSIGNS = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*=(?!=)(?P<value>.*)", re.S)


def _leaves_unset(m: Mutant) -> bool:
    a = _ASSIGNS.match(m.original) if m.operator == "delete" else None
    return a is not None and not re.search(rf"\b{a.group('name')}\b", a.group("value"))


@dataclass
class Schema:
    text: str  # the C file
    ids: dict[str, int]  # mutant id -> its number (1..), the value of BH_MUTANT
    copied: set[str]  # ids of mutants that got a copy of their function


def render(source: str, mutants: list[Mutant], path: str, *, check: bool = False,
           copy_functions: frozenset[str] = frozenset()) -> Schema:
    """The schema of ``mutants`` of ``source``, whose file name in reports is ``path``.

    ``check``: each variant names itself ``path@N`` in #line, so a compiler error says
    which mutant it belongs to (that file is for -fsyntax-only, never run).
    ``copy_functions``: functions whose mutants all get copies (no regions)."""
    toks = _tokens(_strip_preprocessor(source))
    funcs = functions(source, toks)
    line_of = _lines(source)
    ids = {m.id: n for n, m in enumerate(mutants, 1)}
    in_region: dict[Region, list[Mutant]] = {}
    copies: dict[str, list[Mutant]] = {}
    body_regions = {f.name: regions(toks, f.lo + 1, f.hi) for f in funcs.values()}
    for m in mutants:
        r = None
        if m.function not in copy_functions and not _leaves_unset(m):
            r = next((r for r in reversed(body_regions[m.function])
                      if r.start <= m.start and m.end <= r.end), None)
        if r is None:
            copies.setdefault(m.function, []).append(m)
        else:
            in_region.setdefault(r, []).append(m)
    shifts = [(ids[m.id], line_of(m.end), m.replacement.count("\n") - m.original.count("\n"))
              for m in mutants if m.replacement.count("\n") != m.original.count("\n")]

    def where(n: int | None) -> str:
        return f"{path}@{n}" if check and n is not None else path

    def at_line(offset: int, n: int | None = None) -> str:
        return f'\n#line {line_of(offset)} "{where(n)}"\n'

    def variant(m: Mutant, r: Region) -> str:
        text = source[r.start:m.start] + m.replacement + source[m.end:r.end]
        return (f"\n#undef BH_IN_COPY\n#define BH_IN_COPY 1{at_line(r.start, ids[m.id])}{text}"
                "\n#undef BH_IN_COPY\n#define BH_IN_COPY 0\n")

    edits: list[tuple[int, int, str]] = []  # (start, end, text), in file order
    for r, ms in in_region.items():
        orig = f"{at_line(r.start)}{source[r.start:r.end]}{at_line(r.end)}"
        if r.kind == "expr":
            arms = "".join(f"BH_IS({ids[m.id]}) ? ({variant(m, r)}) : " for m in ms)
            edits.append((r.start, r.end, f"({arms}({orig}))"))
        else:
            arms = "".join(f"if (BH_IS({ids[m.id]})) {{{variant(m, r)}}} else "
                           for m in ms)
            edits.append((r.start, r.end, f"{{ {arms}{{{orig}}} }}"))
    for name, ms in copies.items():
        f = funcs[name]
        static = "" if f.head.startswith("static") else "static "
        line_start = source.rfind("\n", 0, f.decl) + 1
        protos = "".join(f"{static}{f.head}{name}__bh_{ids[m.id]}({f.params});\n" for m in ms)
        edits.append((line_start, line_start, f'{protos}#line {line_of(line_start)} "{path}"\n'))
        edits.append((f.open + 1, f.open + 1, _dispatch(f, [ids[m.id] for m in ms])))
        out = [f'\n#define __func__ "{name}"\n#undef BH_IN_COPY\n#define BH_IN_COPY 1\n']
        for m in ms:
            text = m.apply(source)[f.decl:f.close + len(m.replacement) - len(m.original)]
            cut = f.at - f.decl
            text = text[:cut] + f"{name}__bh_{ids[m.id]}" + text[cut + len(name):]
            out.append(f'#line {line_of(f.decl)} "{where(ids[m.id])}"\n{static}{text}\n')
        out.append("#undef BH_IN_COPY\n#define BH_IN_COPY 0\n#undef __func__\n"
                   f'#line {line_of(f.close)} "{path}"\n')
        edits.append((f.close, f.close, "".join(out)))
    edits.sort(key=lambda e: (e[0], e[1]))
    first = min((funcs[m.function].decl for m in mutants), default=0)
    first = source.rfind("\n", 0, first) + 1
    # After the file's includes, so no header defines the macros again.
    edits.insert(0, (first, first, PREAMBLE + _picker(shifts) + f'#line {line_of(first)} '
                                                               f'"{path}"\n'))
    edits.sort(key=lambda e: (e[0], e[1] != e[0]))
    text, at = [], 0
    for start, end, new in edits:
        assert start >= at, "overlapping schema edits"
        text += [source[at:start], new]
        at = end
    text.append(source[at:])
    return Schema("".join(text), ids, {m.id for ms in copies.values() for m in ms})


def _dispatch(f: Function, numbers: list[int]) -> str:
    call = f"{f.name}__bh_%d({f.args})"
    cases = " ".join(f"case {n}: {call % n}; return;" if f.void
                     else f"case {n}: return {call % n};" for n in numbers)
    marks = "".join(f" BH_MARK({n});" for n in numbers)
    return f"{marks} switch (bh_mutant) {{ {cases} default: break; }}"


def _picker(shifts: list[tuple[int, int, int]]) -> str:
    """The constructor that reads $BH_MUTANT and sets the line shift it implies."""
    table = ", ".join(f"{{{n}, {after}, {d}}}" for n, after, d in shifts) or "{0, 0, 0}"
    return f"""\
static const int bh_shifts[][3] = {{ {table} }};
__attribute__((constructor)) static void bh_pick_mutant(void)
{{
	const char *s = getenv("BH_MUTANT");

	bh_mutant = s ? atoi(s) : 0;
	for (unsigned int i = 0; i < sizeof(bh_shifts) / sizeof(bh_shifts[0]); i++)
		if (bh_mutant && bh_shifts[i][0] == bh_mutant) {{
			bh_shift_after = bh_shifts[i][1];
			bh_shift = bh_shifts[i][2];
		}}
}}
"""


def _lines(source: str):
    starts = [0] + [m.end() for m in re.finditer("\n", source)]
    return lambda offset: bisect.bisect_right(starts, offset)


# -- compiler errors ---------------------------------------------------------------

_IN_COPY = re.compile(r"In function .\w+__bh_(\d+).:")
_AT_VARIANT = re.compile(r"@(\d+):\d+:\d+: ")
_ORIGINAL = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):\d+: error: ")


def broken(compiler_output: str, path: str) -> tuple[dict[int, str], list[int]]:
    """From a check schema's ``-fsyntax-only`` output: mutant number -> its
    first error, and the lines of errors in the original code (none if all is well)."""
    found: dict[int, str] = {}
    stray: list[int] = []
    lines = compiler_output.splitlines()
    current: int | None = None
    for i, line in enumerate(lines):
        if m := _IN_COPY.search(line):
            current = int(m.group(1))
        elif ": In function " in line or "At top level" in line:
            current = None
        if ": error: " not in line:
            continue
        n = None
        for follow in [line] + lines[i + 1:]:  # the error, then its notes
            if follow is not line and ": error: " in follow:
                break
            if at := _AT_VARIANT.search(follow):
                n = int(at.group(1))
                break
        n = n if n is not None else current
        if n is None:
            o = _ORIGINAL.match(line)
            if o and o.group("file") == path:
                stray.append(int(o.group("line")))
            else:
                stray.append(0)
        elif n not in found:
            found[n] = re.sub(rf"^{re.escape(path)}@\d+:", f"{path}:", line.strip())
    return found, stray
