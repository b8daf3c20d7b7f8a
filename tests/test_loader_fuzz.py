"""Whatever the bytes, loading ends in cases or one-line SpecErrors, never another exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.spec import SpecError, load_file, load_paths
from harness.spec.loader import _validator

VALID = Path(__file__).parent / "spec_examples" / "valid"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["id", "title", "source", "kind", "ref", "quote", "layer", "requires", "params",
         "buddy", "size", "chunk_size", "base_offset", "steps", "tags", "cases", "alloc",
         "free", "trim", "reset_clear", "check", "repeat", "count", "until", "max", "as",
         "expect", "error", "blocks", "each", "within", "sorted", "avail", "avail_delta",
         "clear_avail", "iterations", "mode", "start", "end", "flags", "name", "cleared",
         "min_block_size", "offset", "order", "total", "contiguous", "aligned", "core",
         "binding", "range", "topdown", "simple", "ENOSPC", "EINVAL", "a", "i", "b{i}",
         "4K", "1G - 16M", "U64_MAX", "SZ_4K", "-16M", "0x10", "true", "false", "null", "~",
         "extra", "x.y"]
PUNCT = [": ", ":", "- ", "-", "[", "]", "{", "}", ", ", "\n", "\n  ", "\n    ", "  ", "'",
         '"', "&a ", "*a", "!!str ", "!!python/object:os.system ", "#", "---\n", "? ", "|",
         ">", "<<: ", "\t", "%YAML 1.1\n", "\\", "\x00", "\ufeff", "é"]


def _load_text(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.yaml"
        path.write_bytes(data)
        try:
            cases = load_file(path)
        except SpecError as e:
            assert "\n" not in str(e) and str(e).startswith(f"{path}:")
            assert e.pos.line >= 1 and e.pos.col >= 1
            return
        assert cases and all(c.raw for c in cases)
        assert not load_paths([path]).errors


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    _load_text(data)


@FUZZ
@given(st.lists(st.sampled_from(WORDS + PUNCT), max_size=60))
def test_yaml_ish_token_soup(tokens):
    _load_text("".join(tokens).encode("utf-8"))


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.sampled_from(WORDS), st.text(max_size=12))
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=5)), max_leaves=25)


@FUZZ
@given(trees)
def test_arbitrary_nested_structures(tree):
    _load_text(yaml.safe_dump(tree, allow_unicode=True).encode("utf-8"))


def _valid_docs() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted(VALID.iterdir())]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_specs(draw):
    doc = copy.deepcopy(draw(st.sampled_from(_valid_docs())))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(trees)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(trees)
        else:
            parent.insert(path[-1], draw(trees))
    return doc


@FUZZ
@given(mutated_specs())
def test_mutated_valid_specs_and_schema_agreement(doc):
    """Near-valid documents: SpecError or cases; what the loader accepts, the schema accepts."""
    data = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mutant.yaml"
        path.write_text(data, encoding="utf-8")
        try:
            load_file(path)
        except SpecError as e:
            assert "\n" not in str(e)
            return
    plain = yaml.safe_load(data)
    errors = list(_validator().iter_errors(plain))
    assert not errors, errors[0].message
