"""The import graph of harness/: verbs on top (no library module imports a verb or the CLI),
and no circle.  Imports under ``if TYPE_CHECKING:`` are left out: they never run, they name
types for a reader."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
VERBS = ("harness.cli", "harness.commands", "harness.__main__", "harness.pytest_plugin")


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                   "typing.TYPE_CHECKING"):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    return skip


def graph() -> dict[str, set[str]]:
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    edges[m].add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                edges[m] |= {a.name for a in node.names}
        edges[m] = {t for t in edges[m] if t in mods and t != m}
    return edges


def _is_verb(name: str) -> bool:
    return any(name == v or name.startswith(v + ".") for v in VERBS)


def test_no_library_module_imports_a_verb():
    wrong = sorted(f"{m} -> {t}" for m, ts in graph().items() if not _is_verb(m)
                   for t in ts if _is_verb(t))
    assert wrong == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_circle_in_the_import_graph():
    assert cycles(graph()) == []


def _module_aliases(tree: ast.AST, mods: dict[str, Path]) -> dict[str, str]:
    """Local names bound to a harness module (``from harness.x import y as z``, ``import
    harness.x as z``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if f"{node.module}.{a.name}" in mods:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            out |= {a.asname: a.name for a in node.names if a.asname and a.name in mods}
    return out


def test_every_attribute_of_a_harness_module_exists():
    """``module.name`` where ``module`` is a harness module names something it defines: a
    rename that missed a caller (``rust_build._publish`` after the builds shared one publish)
    fails here, not in the one slow env that reaches the caller."""
    import importlib

    mods = _modules()
    wrong = []
    for f in [*mods.values(), *Path(__file__).parent.glob("*.py")]:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        aliases = _module_aliases(tree, mods)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and isinstance(node.ctx, ast.Load)):
                target = importlib.import_module(aliases[node.value.id])
                if not hasattr(target, node.attr):
                    wrong.append(f"{f.name}:{node.lineno}: {aliases[node.value.id]} has no "
                                 f"{node.attr}")
    assert wrong == []
