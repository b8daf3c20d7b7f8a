"""Spec expressions: numbers, names, Python precedence, u64 range, errors with columns."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.spec.expr import Expr, sz_value
from harness.spec.position import Pos, SpecError

P = Pos("f.yaml", 3, 10)
U64 = 1 << 64


def ev(text: str, env: dict[str, int] | None = None, *, signed: bool = False) -> int:
    return Expr(text, P).eval(env or {}, signed=signed)


def err(text: str, env: dict[str, int] | None = None, *, signed: bool = False) -> SpecError:
    with pytest.raises(SpecError) as info:
        ev(text, env, signed=signed)
    return info.value


@pytest.mark.parametrize("text, value", [
    ("0", 0),
    ("4096", 4096),
    ("1_000_000", 10**6),
    ("0x1f", 31),
    ("0X1F", 31),
    ("0xdead_beef", 0xDEADBEEF),
    ("4K", 4 * 1024),
    ("16M", 16 * 1024**2),
    ("1G", 1024**3),
    ("3T", 3 * 1024**4),
    ("1P", 1024**5),
    ("15E", 15 * 1024**6),
    ("0x10K", 16 * 1024),
    ("U64_MAX", U64 - 1),
    ("SZ_1", 1),
    ("SZ_4K", 4096),
    ("SZ_16M", 16 * 1024**2),
    ("SZ_2G", 2 * 1024**3),
    ("SZ_8G", 8 * 1024**3),
    ("SZ_1T", 1024**4),
    ("SZ_8E", 1 << 63),
    ("1G - 16M", 1024**3 - 16 * 1024**2),
    ("(4K << 12) + (4K << 10)", (4096 << 12) + (4096 << 10)),
    ("2 << 1 + 1", 8),  # + binds tighter than <<, as in Python
    ("1 + 2 * 3", 7),
    ("10 - 3 - 2", 5),  # left-associative
    ("7 // 2 % 2", 1),
    ("100 // 7 * 7 + 100 % 7", 100),
    ("1 << 63 >> 3", 1 << 60),
    ("  8M   //  2 ", 4 * 1024**2),
    ("U64_MAX - U64_MAX", 0),
])
def test_values(text, value):
    assert ev(text) == value


@pytest.mark.parametrize("text, value", [("-16M", -16 * 1024**2), ("4K - 8K", -4096),
                                         ("-U64_MAX", -(U64 - 1)), ("--4", 4),
                                         ("-(-5)", 5)])
def test_signed_values(text, value):
    assert ev(text, signed=True) == value


def test_names_and_environment():
    e = Expr("base + size - 16M * n // chunk_size + SZ_4K + (U64_MAX - U64_MAX)", P)
    assert e.names() == {"base", "size", "n", "chunk_size"}
    env = {"base": 1 << 33, "size": 1 << 30, "n": 2, "chunk_size": 4096}
    assert e.eval(env) == (1 << 33) + (1 << 30) - (32 << 20) // 4096 + 4096
    assert Expr("4K", P).names() == set()


@pytest.mark.parametrize("text, col, message", [
    ("4k", 11, "size suffix 'k' must be upper case (write 4K)"),
    ("16MB", 12, "bad number '16MB': unknown suffix 'MB' (binary suffixes are K M G T P E, "
                 "4K = 4096)"),
    ("1 / 2", 12, "'/' is not an operator (use '//' for integer division)"),
    ("2 ** 3", 12, "'**' is not an operator (write powers of two as 1 << n)"),
    ("1 < 2", 12, "'<' is not an operator (shifts are written '<<')"),
    ("(1 + 2", 10, "'(' is never closed in expression '(1 + 2'"),
    ("1 + 2)", 15, "unmatched ')' in expression '1 + 2)'"),
    ("1 +", 13, "expression '1 +' ends early (an operator needs a value after it)"),
    ("* 2", 10, "expected a number, name or '(' but found '*' in expression '* 2'"),
    ("1 2", 12, "expected an operator before '2' in expression '1 2'"),
    ("", 10, "empty expression (write a number such as 4K)"),
    ("4K & 1", 13, "unexpected character '&' in expression '4K & 1' (operators are "
                   "+ - * // % << >> ( ))"),
    ("1_", 10, "bad number '1_' ('_' may only stand between two digits)"),
    ("1__0", 10, "bad number '1__0' ('_' may only stand between two digits)"),
    ("0x", 10, "bad hex number '0x' (write hex as 0x1f, digits 0-9 a-f)"),
    ("0xfg", 13, "size suffix 'g' must be upper case (write 0xfG)"),
    ("0x1fMB", 14, "bad number '0x1fMB': unknown suffix 'MB' (binary suffixes are K M G T P E, "
                   "4K = 4096)"),
    ("08", 10, "bad number '08': decimal numbers do not start with 0 (write hex as 0x...)"),
    ("16E", 10, "number 16E does not fit in u64 (values must be below 2**64)"),
    ("0x1_0000_0000_0000_0000", 10, "number 0x1_0000_0000_0000_0000 does not fit in u64 "
                                    "(values must be below 2**64)"),
    ("SZ_3K", 10, "'SZ_3K' is not a size name (SZ_<n> with n a power of two and optional "
                  "K M G T P E, e.g. SZ_4K)"),
    ("SZ_16E", 10, "'SZ_16E' is not a size name (SZ_<n> with n a power of two and optional "
                   "K M G T P E, e.g. SZ_4K)"),
    ("1 + SZ_4k", 14, "'SZ_4k' is not a size name (SZ_<n> with n a power of two and optional "
                      "K M G T P E, e.g. SZ_4K)"),
])
def test_parse_errors_point_at_the_token(text, col, message):
    with pytest.raises(SpecError) as info:
        Expr(text, P)
    assert str(info.value) == f"f.yaml:3:{col}: {message}"


@pytest.mark.parametrize("text, env, col, message", [
    ("1G // (4K - 4K)", {}, 13, "division by zero in expression '1G // (4K - 4K)'"),
    ("5 % n", {"n": 0}, 12, "modulo by zero in expression '5 % n'"),
    ("1 << 64", {}, 12, "shift count 64 is out of range 0..63 in expression '1 << 64'"),
    ("1 >> n", {"n": 70}, 12, "shift count 70 is out of range 0..63 in expression '1 >> n'"),
    ("U64_MAX + 1", {}, 18, "expression 'U64_MAX + 1' leaves the u64 range "
                            "(0x10000000000000000) (values must lie in [0, 2**64))"),
    ("1 << 63 << 1", {}, 18, "expression '1 << 63 << 1' leaves the u64 range "
                             "(0x10000000000000000) (values must lie in [0, 2**64))"),
    ("4K - 8K + 8K", {}, 13, "expression '4K - 8K + 8K' goes negative (-4096); values are u64 "
                             "(only avail_delta may be negative)"),
    ("-16M", {}, 10, "expression '-16M' goes negative (-16777216); values are u64 "
                     "(only avail_delta may be negative)"),
    ("-(-5)", {}, 12, "expression '-(-5)' goes negative (-5); values are u64 "
                      "(only avail_delta may be negative)"),
    ("size - chunk", {"size": 1}, 17, "unknown name 'chunk' in expression 'size - chunk'"),
])
def test_evaluation_errors_point_at_the_operator(text, env, col, message):
    assert str(err(text, env)) == f"f.yaml:3:{col}: {message}"


def test_signed_range_is_bounded_too():
    assert "leaves the u64 range" in str(err("-U64_MAX - 1", signed=True))
    assert "leaves the u64 range" in str(err("U64_MAX + 1", signed=True))


def test_inexact_expression_points_at_its_start():
    e = Expr("1 +\n nope", P, exact=False)
    with pytest.raises(SpecError) as info:
        e.eval({})
    assert info.value.pos == P


def test_no_eval_of_python():
    for text in ("__import__('os')", "'a'", "[1]", "1 if 1 else 2", "a.b", "1e3", "1.0",
                 "lambda: 1", "True"):
        try:
            e = Expr(text, P)
        except SpecError:
            continue
        with pytest.raises(SpecError):  # "True" parses as a name, unknown at evaluation
            e.eval({})


def test_nesting_is_limited_but_long_flat_expressions_are_fine():
    with pytest.raises(SpecError, match="nests deeper than 64 levels"):
        Expr("(" * 100 + "1" + ")" * 100, P)
    with pytest.raises(SpecError, match="nests deeper than 64 levels"):
        Expr("-" * 100 + "1", P)
    assert ev("+".join(["1"] * 1500)) == 1500  # evaluation is not recursive
    with pytest.raises(SpecError, match="longer than 4096 characters"):
        Expr("1+" * 2100 + "1", P)


def test_equality_is_by_text():
    assert Expr("4K", P) == Expr("4K", Pos("g", 1, 1))
    assert Expr("4K", P) != Expr("4096", P)
    assert len({Expr("1", P), Expr("1", P)}) == 1
    assert repr(Expr("1 + 1", P)) == "Expr('1 + 1')" and str(Expr("2", P)) == "2"


def test_sz_names_are_powers_of_two():
    assert sz_value("SZ_512") == 512 and sz_value("SZ_64T") == 64 << 40
    assert sz_value("SZ_0") is None and sz_value("SZ_6") is None and sz_value("SZ_04K") is None


# -- against Python's own arithmetic ----------------------------------------------

OPS = ["+", "-", "*", "//", "%", "<<", ">>"]
small = st.integers(min_value=0, max_value=70)
big = st.sampled_from([0, 1, 2, 7, 4096, 1 << 30, (1 << 63) + 5, (1 << 64) - 1])


@st.composite
def expr_text(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        n = draw(st.one_of(small, big))
        return draw(st.sampled_from([str(n), hex(n)]))
    left = draw(expr_text(depth + 1))
    right = draw(expr_text(depth + 1))
    text = f"{left} {draw(st.sampled_from(OPS))} {right}"
    if draw(st.booleans()):
        text = f"({text})"
    if draw(st.integers(0, 9)) == 0:
        text = f"-{text}"
    return text


def _python_value(node: ast.AST, signed: bool) -> int:
    """Python's precedence (ast) with the documented range rules; raises ValueError."""
    low = -(U64 - 1) if signed else 0
    if isinstance(node, ast.Expression):
        return _python_value(node.body, signed)
    if isinstance(node, ast.Constant):
        value = node.value
    elif isinstance(node, ast.UnaryOp):
        value = -_python_value(node.operand, signed)
    else:
        assert isinstance(node, ast.BinOp)
        a, b = _python_value(node.left, signed), _python_value(node.right, signed)
        op = type(node.op)
        if op in (ast.FloorDiv, ast.Mod) and b == 0:
            raise ValueError("zero")
        if op in (ast.LShift, ast.RShift) and not 0 <= b < 64:
            raise ValueError("shift")
        value = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(op) if op in (
            ast.Add, ast.Sub, ast.Mult) else {
            ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b,
            ast.LShift: lambda: a << b, ast.RShift: lambda: a >> b}[op]()
    if not low <= value < U64:
        raise ValueError("range")
    return value


@given(expr_text(), st.booleans())
def test_agrees_with_python_precedence_and_range_rules(text, signed):
    want: int | None
    try:
        want = _python_value(ast.parse(text, mode="eval"), signed)
    except ValueError:
        want = None
    e = Expr(text, P)
    if want is None:
        with pytest.raises(SpecError):
            e.eval({}, signed=signed)
    else:
        assert e.eval({}, signed=signed) == want


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_spec_error(text):
    try:
        e = Expr(text, P)
    except SpecError as error:
        assert error.pos.line == 3 and 10 <= error.pos.col <= 10 + len(text)
        return
    try:
        e.eval({name: 1 for name in e.names()})
    except SpecError:
        pass
