"""The spec loader: malformed files give one exact message, valid files build the model."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from harness.spec import Pos, SpecError, iter_spec_files, load_file, load_paths, yamlpos
from harness.spec.expr import Expr
from harness.spec.loader import _validator, schema
from harness.spec.model import Alloc, Check, Free, Repeat, ResetClear, Trim
from tests.helpers import load_one, write_spec

HERE = Path(__file__).parent
MALFORMED = HERE / "malformed"
VALID = HERE / "spec_examples" / "valid"
EXPECT = re.compile(r"# expect: (.*)")
SCHEMA_ACCEPTS = "# schema: accepts"


def _expected(path: Path) -> str | None:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    m = EXPECT.fullmatch(first)
    return m[1] if m else None


MALFORMED_FILES = sorted(p.name for p in MALFORMED.glob("*.yaml"))
MALFORMED_DIRS = sorted(p.name for p in MALFORMED.iterdir() if p.is_dir())


def test_there_are_enough_malformed_cases():
    assert len(MALFORMED_FILES) + len(MALFORMED_DIRS) >= 60


@pytest.mark.parametrize("name", MALFORMED_FILES)
def test_malformed_file_gives_its_exact_message(name, monkeypatch):
    monkeypatch.chdir(MALFORMED)
    expected = _expected(Path(name))
    assert expected, f"{name} has no '# expect: LINE:COL: message' first line"
    with pytest.raises(SpecError) as info:
        load_file(name)
    assert str(info.value) == f"{name}:{expected}"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", MALFORMED_FILES)
def test_malformed_file_fails_load_paths_too_without_exception(name, monkeypatch):
    monkeypatch.chdir(MALFORMED)
    result = load_paths([name])
    assert [str(e) for e in result.errors] == [f"{name}:{_expected(Path(name))}"]
    assert result.files == [Path(name)]


@pytest.mark.parametrize("name", MALFORMED_DIRS)
def test_malformed_directory_gives_the_messages_of_its_files(name, monkeypatch):
    monkeypatch.chdir(MALFORMED)
    files = iter_spec_files([name])
    expected = [f"{f}:{_expected(f)}" for f in files if _expected(f)]
    assert expected
    result = load_paths([name])
    assert [str(e) for e in result.errors] == expected
    # files without an expect line are valid on their own
    for f in files:
        if not _expected(f):
            assert load_file(f)


def _yaml_data(name: str):
    """The plain data of a malformed file, or None when it is not YAML data at all."""
    try:
        return yamlpos.load(yamlpos.decode((MALFORMED / name).read_bytes(), name), name)
    except SpecError:
        return None


SCHEMA_VISIBLE = [name for name in MALFORMED_FILES + [
    f"{d}/{f.name}" for d in MALFORMED_DIRS for f in sorted((MALFORMED / d).glob("*.yaml"))]
    if _yaml_data(name) is not None]


def test_some_malformed_files_are_not_yaml_data():
    assert 0 < len(SCHEMA_VISIBLE) < len(MALFORMED_FILES)


@pytest.mark.parametrize("name", SCHEMA_VISIBLE)
def test_schema_agrees_with_the_loader_on_malformed_files(name):
    """The schema rejects every malformed file it can see, unless marked as beyond it."""
    path = MALFORMED / name
    errors = list(_validator().iter_errors(_yaml_data(name).to_plain()))
    text = path.read_text(encoding="utf-8")
    if SCHEMA_ACCEPTS in text or not _expected(path):
        assert not errors, errors[0].message
    else:
        assert errors


# -- generated hostile files ----------------------------------------------------


def test_huge_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("id: x\n" + "# padding\n" * (yamlpos.MAX_BYTES // 10 + 1))
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert str(info.value) == (f"{path}:1:1: file is larger than 2 MiB "
                               "(split it into several files)")


def test_document_with_too_many_nodes_is_refused(tmp_path):
    n = yamlpos.MAX_NODES + 10
    path = tmp_path / "wide.yaml"
    path.write_text("tags: [" + ",".join(["t"] * n) + "]\n")
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert f"the document has more than {yamlpos.MAX_NODES} nodes" in str(info.value)
    assert str(info.value).startswith(f"{path}:1:")


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 9)]
    path = write_spec(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert "nodes (after expanding aliases)" in str(info.value)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deeply_nested_document_is_refused(tmp_path, style):
    depth = 500
    if style == "flow":
        text = "steps: " + "[" * depth + "]" * depth + "\n"
        line = 1
    else:
        text = "".join("  " * k + "k:\n" for k in range(depth)) + "  " * depth + "k: 1\n"
        line = yamlpos.MAX_DEPTH
    path = write_spec(tmp_path, "deep.yaml", text)
    with pytest.raises(SpecError) as info:
        load_file(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}:") and msg.endswith("nesting deeper than 64 levels")


def test_unsafe_tag_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = write_spec(tmp_path, "evil.yaml", f"""
        id: !!python/object/apply:os.system ["touch {marker}"]
    """)
    with pytest.raises(SpecError, match="tag '!!python/object/apply:os.system' is not allowed"):
        load_file(path)
    assert not marker.exists()


def test_unreadable_path_is_a_spec_error(tmp_path):
    result = load_paths([tmp_path / "missing.yaml"])
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"{tmp_path / 'missing.yaml'}:1:1: cannot read")


# -- valid files -------------------------------------------------------------------


VALID_FILES = sorted(p.name for p in VALID.iterdir())


@pytest.mark.parametrize("name", VALID_FILES)
def test_valid_example_loads_and_validates_with_the_schema(name):
    path = VALID / name
    cases = load_file(path)
    assert cases
    data = yamlpos.load(yamlpos.decode(path.read_bytes(), name), name).to_plain()
    errors = list(_validator().iter_errors(data))
    assert not errors, errors[0].message
    # an editor sees the YAML as PyYAML reads it; that must validate too
    errors = list(_validator().iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, errors[0].message


def test_schema_is_draft_2020_12_and_valid():
    import jsonschema

    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_the_whole_example_of_the_spec_format_builds_the_model():
    text = (VALID / "spec-format-example.yaml").read_text()
    (case,) = load_file(VALID / "spec-format-example.yaml")
    assert case.id == "rustdoc.simple-alloc-lands-at-top"
    assert case.source.kind == "rustdoc" and case.source.quote.startswith("Allocate 16MB")
    assert case.layer == "binding"
    assert [ps.id for ps in case.combinations()] == ["chunk=4K", "chunk=64K"]
    assert case.buddy.size.eval({}) == 1 << 30
    assert case.buddy.chunk_size.names() == {"chunk"}
    alloc, free = case.steps
    assert isinstance(alloc, Alloc) and isinstance(free, Free)
    assert (alloc.name, alloc.mode, alloc.flags) == ("a", "simple", ())
    assert alloc.size.eval({}) == alloc.min_block_size.eval({}) == 16 << 20
    assert alloc.expect.blocks[0]["offset"].eval({}) == (1 << 30) - (16 << 20)
    assert alloc.expect.avail_delta.eval({}, signed=True) == -(16 << 20)
    assert free.name == "a" and free.cleared is False and free.expect.avail.text == "1G"
    assert alloc.pos.line == 12 and free.pos.line == 16
    assert case.raw == yaml.safe_load(text)


def test_model_of_binding_features():
    cases = {c.id: c for c in load_file(VALID / "binding-features.yaml")}
    modes = cases["examples.binding.modes-and-expectations"]
    assert modes.requires == frozenset({"contiguous", "clear", "trim_disable"})
    assert modes.tags == ("example", "binding")
    assert len(modes.combinations()) == 4
    check, top, down, r = modes.steps[:4]
    assert isinstance(check, Check) and set(check.values) == {
        "size", "chunk_size", "base_offset", "avail"}
    e = top.expect
    assert e.count.text == "1" and e.contiguous is True and e.sorted == "ascending"
    assert set(e.each) == {"size", "aligned"} and [x.text for x in e.within] == [
        "base", "base + size"]
    assert down.flags == ("trim_disable",) and down.mode == "topdown"
    assert r.mode == "range" and r.start.text == "0" and r.end.text == "4M"
    assert r.flags == ("contiguous", "clear")

    rep = cases["examples.binding.repeats-and-names"]
    until, free_b2, _, counted, pairs = rep.steps
    assert isinstance(until, Repeat) and until.until == "ENOSPC" and until.count is None
    assert until.max.text == "10" and until.var == "i" and until.expect.iterations.text == "4"
    assert until.steps[0].name == "b{i}"
    assert free_b2.name == "b2"
    assert counted.var == "k" and counted.count.text == "4"
    inner = counted.steps[0]
    assert isinstance(inner, Repeat) and inner.var == "j" and inner.count.names() == {"k"}
    assert counted.steps[1].name == "b{k}"
    assert pairs.steps[0].size.eval({"i": 1}) == 2 << 20

    merged = cases["examples.binding.anchors-and-merge"]
    assert merged.buddy.base_offset.text == "4K" and merged.buddy.size.text == "16M"
    assert merged.raw["buddy"] == {"base_offset": "4K", "size": "16M", "chunk_size": "4K"}


def test_model_of_core_features():
    main, fails = load_file(VALID / "core-features.yml")
    assert main.layer == "core"
    kinds = [type(s) for s in main.steps]
    assert kinds == [Check, Alloc, Trim, Trim, Free, Alloc, ResetClear, Free, ResetClear,
                     Check, Alloc]
    trim1, trim2 = main.steps[2], main.steps[3]
    assert trim1.start is None and trim2.start.text == "1G - 16M"
    assert main.steps[4].cleared is True and main.steps[7].cleared is False
    assert main.steps[6].is_clear is True and main.steps[8].is_clear is False
    assert main.steps[5].flags == ("range", "clear", "contiguous")
    assert main.steps[10].expect.error == "EINVAL"
    assert fails.buddy.error == "EINVAL" and fails.steps == []
    assert fails.buddy.chunk_size.eval({}) == 2048


def test_plain_int_becomes_decimal_expression(tmp_path):
    case = load_one(tmp_path, """
        id: t.ints
        title: plain ints
        source: {kind: extra, ref: test}
        buddy: {size: 1073741824, chunk_size: 4096}
        steps:
          - alloc: {size: 0x1000}
            expect: {avail_delta: -4096}
    """)
    assert case.buddy.size == Expr("1073741824", case.pos)
    assert case.steps[0].size.text == "0x1000"
    assert case.steps[0].expect.avail_delta.eval({}, signed=True) == -4096
    assert case.raw["buddy"] == {"size": 1073741824, "chunk_size": 4096}


def test_yaml_1_1_scalars_are_not_numbers_or_booleans(tmp_path):
    """'yes', '1:30' and '010' are never read as true, base 60 or octal."""
    for text, message in (("yes", "got the string 'yes'"),):
        path = write_spec(tmp_path, "t.yaml", f"""
            id: t.yes
            title: yes is a string
            source: {{kind: extra, ref: test}}
            layer: core
            buddy: {{size: 1G, chunk_size: 4K}}
            steps:
              - reset_clear: {text}
        """)
        with pytest.raises(SpecError, match=message):
            load_file(path)
    path = write_spec(tmp_path, "t.yaml", """
        id: t.colon
        title: sexagesimal
        source: {kind: extra, ref: test}
        buddy: {size: 1:30, chunk_size: 4K}
        steps: [{check: {avail: 0}}]
    """)
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert str(info.value) == (f"{path}:4:16: unexpected character ':' in expression '1:30' "
                               "(operators are + - * // % << >> ( ))")


def test_expression_columns_point_into_the_scalar(tmp_path):
    base = """
        id: t.col
        title: columns
        source: {kind: extra, ref: test}
        buddy: {size: 1G, chunk_size: 4K}
        steps:
          - alloc: {size: SIZE}
    """
    for written, col in (("1G + nope", 24), ("'1G + nope'", 25), ('"1G + nope"', 25)):
        path = write_spec(tmp_path, "c.yaml", base.replace("SIZE", written))
        with pytest.raises(SpecError) as info:
            load_file(path)
        assert info.value.pos == Pos(str(path), 6, col), written
    # an escape inside double quotes: columns are no longer exact, point at the scalar
    path = write_spec(tmp_path, "c.yaml", base.replace("SIZE", '"1G +\\x20nope"'))
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert info.value.pos == Pos(str(path), 6, 19)


def test_multiline_expression_points_at_its_start(tmp_path):
    path = write_spec(tmp_path, "m.yaml", """
        id: t.fold
        title: folded
        source: {kind: extra, ref: test}
        buddy: {size: 1G, chunk_size: 4K}
        steps:
          - alloc:
              size: >-
                1G -
                nope
    """)
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert info.value.pos.line == 7 and "unknown name 'nope'" in info.value.message


def test_raw_is_position_free_plain_data(tmp_path):
    case = load_one(tmp_path, """
        id: t.raw
        title: raw
        source: {kind: extra, ref: test}
        params: {c: [4K, 8K]}
        buddy: {size: 1G, chunk_size: c}
        steps:
          - alloc: {as: a, size: 4K, flags: [clear]}
            expect: {contiguous: true}
    """)

    def plain(x):
        if isinstance(x, dict):
            return type(x) is dict and all(type(k) is str and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return type(x) is list and all(plain(v) for v in x)
        return x is None or type(x) in (str, int, bool)

    assert plain(case.raw)
    assert yaml.safe_load(yaml.safe_dump(case.raw)) == case.raw
    assert case.raw["steps"][0]["alloc"]["flags"] == ["clear"]


def test_names_defined_in_repeats_are_accepted_where_the_docs_say(tmp_path):
    load_one(tmp_path, """
        id: t.names
        title: names across repeats
        source: {kind: extra, ref: test}
        buddy: {size: 16M, chunk_size: 4K}
        steps:
          - repeat:
              count: 2
              steps:
                - alloc: {as: "x{i}", size: 4K}
                - free: "x{i}"
                - alloc: {as: "x{i}", size: 4K}
          - repeat:
              count: 2
              as: n
              steps:
                - free: "x{n}"
          - alloc: {as: kept, size: 4K}
          - repeat:
              count: 0
              steps:
                - free: kept
          - free: kept
          - alloc: {as: once, size: 2G}
            expect: {error: EINVAL}
          - alloc: {as: once, size: 4K}
          - free: once
    """)


def test_every_error_of_a_cases_file_is_reported(tmp_path):
    path = write_spec(tmp_path, "two.yaml", """
        cases:
          - id: t.one
            title: bad verb
            source: {kind: extra, ref: test}
            buddy: {size: 1G, chunk_size: 4K}
            steps: [{alocate: {size: 4K}}]
          - id: t.two
            title: good
            source: {kind: extra, ref: test}
            buddy: {size: 1G, chunk_size: 4K}
            steps: [{alloc: {size: 4K}}]
          - id: t.three
            title: bad name
            source: {kind: extra, ref: test}
            buddy: {size: 1G, chunk_size: 4K}
            steps: [{free: nothing}]
    """)
    result = load_paths([path])
    assert [c.id for c in result.cases] == ["t.two"]
    assert [(e.pos.line, e.pos.col) for e in result.errors] == [(6, 14), (16, 20)]
    with pytest.raises(SpecError) as info:
        load_file(path)
    assert info.value.pos.line == 6


# -- directories ---------------------------------------------------------------------

GOOD = """
    id: {id}
    title: good
    source: {{kind: extra, ref: test}}
    buddy: {{size: 1G, chunk_size: 4K}}
    steps: [{{alloc: {{size: 4K}}}}]
"""


def test_load_paths_walks_directories_sorted_and_skips_what_is_not_a_case(tmp_path):
    root = tmp_path / "specs"
    write_spec(root, "b/two.yaml", GOOD.format(id="c.two"))
    write_spec(root, "a/one.yml", GOOD.format(id="c.one"))
    write_spec(root, "a/notes.txt", "not yaml")
    write_spec(root, ".hidden/x.yaml", "{{{ not even yaml")
    write_spec(root, "expectations/reference.yaml", "c.one: a reason\n")
    write_spec(root, "b/expectations/kept.yaml", GOOD.format(id="c.kept"))
    files = iter_spec_files([root])
    assert [f.relative_to(root).as_posix() for f in files] == [
        "a/one.yml", "b/expectations/kept.yaml", "b/two.yaml"]
    result = load_paths([root, root / "b" / "two.yaml"])
    assert not result.errors
    assert [c.id for c in result.cases] == ["c.one", "c.kept", "c.two"]
    assert len(result.files) == 3


def test_errors_in_one_file_do_not_stop_the_others(tmp_path):
    write_spec(tmp_path, "1.yaml", GOOD.format(id="c.first"))
    write_spec(tmp_path, "2.yaml", "id: [unclosed\n")
    write_spec(tmp_path, "3.yaml", GOOD.format(id="c.third"))
    result = load_paths([tmp_path])
    assert [c.id for c in result.cases] == ["c.first", "c.third"]
    assert len(result.errors) == 1 and result.errors[0].pos.file == str(tmp_path / "2.yaml")


def test_duplicate_id_across_files_names_the_first_file_and_line(tmp_path):
    write_spec(tmp_path, "a.yaml", "# leading comment\n" + textwrap.dedent(GOOD).lstrip()
               .format(id="c.same"))
    write_spec(tmp_path, "b.yaml", GOOD.format(id="c.same"))
    result = load_paths([tmp_path])
    assert [c.file for c in result.cases] == [str(tmp_path / "a.yaml")]
    (err,) = result.errors
    assert str(err) == (f"{tmp_path / 'b.yaml'}:1:5: duplicate id 'c.same' (first at "
                        f"{tmp_path / 'a.yaml'}:2) (ids are unique across every loaded file)")


def test_positions_keep_relative_paths_as_given(tmp_path, monkeypatch):
    write_spec(tmp_path, "rel/case.yaml", GOOD.format(id="c.rel"))
    monkeypatch.chdir(tmp_path)
    (case,) = load_file("rel/case.yaml")
    assert case.pos == Pos("rel/case.yaml", 1, 1)
    assert load_paths(["rel"]).cases[0].file == "rel/case.yaml"
