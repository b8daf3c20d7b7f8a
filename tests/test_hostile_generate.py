"""Spec text never runs as code: whatever a contributed spec file says in its string fields
(or in its file name), ``generate`` writes it into the module only as string literals, so
importing the module defines the tests and does nothing else.

The structural check reads the module's syntax tree: a statement that the template does not
write is injected code, whether or not it would have had a visible effect.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.render import pyliteral, render
from harness.spec.loader import load_paths

SENTINEL_NAME = "injected"

# Every character but surrogates (which no YAML file can hold), weighted towards the ones that
# end a line or a literal somewhere: CR, LF, NEL, the Unicode separators, quotes, backslash.
NASTY = "\r\n\x85\u2028\u2029\x0b\x0c\x00\"'\\#{}%"
char = st.one_of(st.sampled_from(NASTY), st.characters(exclude_categories=("Cs",)))
text = st.text(char, min_size=1, max_size=40)


def _payload(path: Path) -> st.SearchStrategy[str]:
    """Texts that would create ``path`` if any part of them ran as Python."""
    code = f"import pathlib; pathlib.Path({str(path)!r}).touch()"
    breaks = st.sampled_from(["\r", "\n", "\r\n", '"""', "'''", "\\\r", "\x85", "\u2028"])
    return st.builds(lambda pre, b, post: f"{pre}{b}{code}{b}{post}", text, breaks, text)


def _case(title: str, ref: str, quote: str, tag: str) -> dict:
    return {"id": "c.hostile", "title": title, "source": {"kind": "extra", "ref": ref,
                                                          "quote": quote},
            "tags": [tag], "buddy": {"base_offset": 0, "size": "1G", "chunk_size": "4K"},
            "steps": [{"alloc": {"as": "a", "size": "16M", "min_block_size": "16M"},
                       "expect": {"blocks": [{"offset": "1G - 16M"}]}}]}


def _expected_shape(module: ast.Module) -> list[str]:
    """What in the module is not the template's own: empty when nothing was injected."""
    wrong = []
    for node in module.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            if names not in (["pytest"], ["run_spec_case"]):
                wrong.append(f"import {names}")
        elif isinstance(node, ast.Assign):
            if [ast.unparse(t) for t in node.targets] != ["SPEC"] or \
                    not isinstance(node.value, ast.Constant):
                wrong.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef):
            doc, call = (node.body + [None, None])[:2]
            if len(node.body) != 2 or not (isinstance(doc, ast.Expr)
                                           and isinstance(doc.value, ast.Constant)):
                wrong.append(f"body of {node.name}")
            elif not (isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
                      and ast.unparse(call.value.func) == "run_spec_case"):
                wrong.append(f"call in {node.name}")
        else:
            wrong.append(ast.unparse(node))
    return wrong


def _generate_and_import(tmp: Path, case: dict, file_name: str = "case.yaml"):
    specs = tmp / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    (specs / file_name).write_text(yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
    rendered = render(specs, tmp / "generated", tmp)
    modules = {p: t for p, t in rendered.files.items() if "backend_suites" not in p.name}
    if rendered.errors:  # refused by the loader: nothing is written for that file
        assert not modules
        return None
    (path, source), = modules.items()
    tree = ast.parse(source)
    assert _expected_shape(tree) == []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"hostile_gen_{abs(hash(source))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop(spec.name, None)
    return module


def test_carriage_return_in_title_does_not_run(tmp_path):
    sentinel = tmp_path / SENTINEL_NAME
    title = f"a\rimport pathlib; pathlib.Path({str(sentinel)!r}).touch()"
    module = _generate_and_import(tmp_path, _case(title, "ref", "q", "t"))
    assert module is not None and not sentinel.exists()
    assert module.test_c_hostile.__doc__.startswith(title)


def test_line_breaks_in_source_ref_do_not_run(tmp_path):
    for i, brk in enumerate(("\r", "\n", "\r\n")):
        sentinel = tmp_path / f"{SENTINEL_NAME}{i}"
        ref = f"x{brk}import pathlib; pathlib.Path({str(sentinel)!r}).touch()"
        _generate_and_import(tmp_path / str(i), _case("t", ref, "q", "t"))
        assert not sentinel.exists()


def test_spec_file_name_does_not_run(tmp_path):
    # No slash in a file name: the payload finds its place from the module's own path.
    name = f"x\rimport pathlib; pathlib.Path(__file__).with_name({SENTINEL_NAME!r}).touch()\r#.yaml"
    module = _generate_and_import(tmp_path, _case("t", "r", "q", "t"), file_name=name)
    assert module is not None and not (tmp_path / "generated" / SENTINEL_NAME).exists()
    assert module.SPEC.endswith(name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_text_in_any_string_field_is_only_a_literal(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("gen")
    sentinel = tmp / SENTINEL_NAME
    field = st.one_of(text, _payload(sentinel))
    title, ref, quote, tag = (data.draw(field) for _ in range(4))
    module = _generate_and_import(tmp, _case(title, ref, quote, tag))
    assert not sentinel.exists()
    if module is not None:  # the title as YAML reads it (a NEL in a plain scalar folds)
        (case,) = load_paths([tmp / "specs"]).cases
        assert module.test_c_hostile.__doc__.startswith(case.title)


@given(text)
def test_literal_reads_back_as_the_text(s):
    literal = pyliteral(s)
    assert ast.literal_eval(literal) == s
    assert "\r" not in literal and "\x00" not in literal
