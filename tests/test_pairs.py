"""``buddy-harness cover --pairs``: input classes, what counts as exercising a pair, waivers.

Small interaction files and cases run on the reference, so these run everywhere;
the corpus's own figure on 7.2 is held where a native tree is cached.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backends.native.testing import available_trees
from harness.cli import main
from harness.cover import interactions, pairs
from harness.spec.position import SpecError
from tests.helpers import write_spec

CLASSES = """
families:
  flag:
    multiple: true
    classes:
      range: {when: "range == 1"}
      topdown: {when: "topdown == 1"}
  size:
    classes:
      below-chunk: {when: "size < chunk_size", refused: true}
      small: {when: "size <= 16M"}
      large: {}
  fragmentation:
    classes:
      fresh: {when: "avail == space"}
      fragmented: {}
waivers: []
"""


def _file(tmp_path: Path, text: str = CLASSES) -> Path:
    return write_spec(tmp_path, "specs/interactions.yaml", text)


def _env(**kw) -> dict[str, int]:
    from harness.engine.trace import AllocCall

    call = AllocCall(None, kw.get("start", 0), kw.get("end", 0), kw.get("size", 4096),
                     kw.get("min_block_size", 4096), tuple(kw.get("flags", ())))
    return interactions.env_of(call, space=kw.get("space", 1 << 30),
                               asked_space=kw.get("space", 1 << 30), chunk=4096,
                               before=kw.get("before", (1 << 30, 0)))


@pytest.mark.treeless
def test_classes_pairs_and_classification(tmp_path):
    inter = interactions.load_file(_file(tmp_path))
    assert [c.id for c in inter.classes()] == [
        "flag.range", "flag.topdown", "size.below-chunk", "size.small", "size.large",
        "fragmentation.fresh", "fragmentation.fragmented"]
    got = inter.pairs()
    # Inside a multiple family, and across families; never two classes of one exclusive family.
    assert ("flag.range", "flag.topdown") in got
    assert ("size.small", "fragmentation.fresh") in got
    assert ("size.small", "size.large") not in got
    assert len(got) == 1 + 2 * 3 + 2 * 2 + 3 * 2
    # Exclusive families take the first class that holds; the last one takes the rest.
    assert inter.classify(_env(size=8 << 20, flags=("range", "topdown"))) == [
        "flag.range", "flag.topdown", "size.small", "fragmentation.fresh"]
    assert inter.classify(_env(size=1 << 30, before=(1 << 29, 0))) == [
        "size.large", "fragmentation.fragmented"]
    assert inter.refused() == {"size.below-chunk"}


@pytest.mark.treeless
def test_derived_names_and_shifts():
    env = _env(size=12 << 20, min_block_size=16 << 20, space=(1 << 30) + (512 << 20))
    assert (env["size_floor"], env["size_pow2"], env["min_pow2"], env["roots"]) == (
        8 << 20, 0, 1, 2)
    cond = interactions._condition(interactions.YNode(
        "scalar", interactions.Pos("f", 1, 1), "pages >= 1 << 32 or size == 12M and range == 0"))
    assert cond.holds(env)
    assert not cond.holds(dict(env, size=4096))
    # Out of u64 is no value: the comparison is false, not an error.
    big = interactions._condition(interactions.YNode(
        "scalar", interactions.Pos("f", 1, 1), "start + size == end"))
    assert not big.holds(dict(env, start=(1 << 64) - 4096, end=0))


@pytest.mark.parametrize("text, where, what", [
    ("families: {f: {classes: {a: {when: 'bogus == 1'}}}}\n", 1, "unknown name 'bogus'"),
    ("families: {f: {classes: {a: {when: 'size'}}}}\n", 1, "is not one comparison"),
    ("families: {f: {classes: {a: {}, b: {when: 'size == 1'}}}}\n", 1, "needs `when:`"),
    ("families: {f: {colour: red, classes: {a: {}}}}\n", 1, "unknown key 'colour'"),
    ("families: {f: {requires: [warp], classes: {a: {}}}}\n", 1, "unknown feature"),
    ("families: {f: {classes: {a: {}}}}\nwaivers:\n  - {pair: [f.a, g.b], reason: x}\n", 3,
     "names no class"),
    ("families: {f: {classes: {a: {}}}}\nwaivers:\n  - {pair: ['*', '*'], reason: x}\n", 3,
     "waives nothing"),
    ("families: {f: {classes: {a: {}}}}\nwaivers:\n  - {pair: [f.a, f.a]}\n", 3,
     "one-line `reason:`"),
    ("nothing: here\n", 1, "unknown key 'nothing'"),
])
@pytest.mark.treeless
def test_a_bad_interactions_file_is_one_message_at_its_line(tmp_path, text, where, what):
    path = tmp_path / "interactions.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as e:
        interactions.load_file(path)
    assert f"{path}:{where}:" in str(e.value) and what in str(e.value)


CASES = """
cases:
  - id: t.checked
    title: both checks, in a fresh space then a fragmented one
    source: {kind: extra, ref: test}
    layer: core
    buddy: {size: 1G, chunk_size: 4K}
    steps:
      - alloc: {as: a, size: 8M, start: 0, end: 1G, flags: [range, topdown]}
        expect: {blocks: [{offset: 0, size: 8M}], avail: 1G - 8M}
      - alloc: {as: b, size: 32M}
        expect: {blocks: [{offset: 32M, size: 32M}]}
      - check: {avail: 1G - 40M}
      - alloc: {size: 1K}
        expect: {error: EINVAL, avail: 1G - 40M}
  - id: t.unchecked
    title: blocks without counters, counters without blocks
    source: {kind: extra, ref: test}
    layer: core
    buddy: {size: 1G, chunk_size: 4K}
    steps:
      - alloc: {as: a, size: 64M, flags: [topdown]}
        expect: {count: 1}
      - alloc: {as: b, size: 64M}
        expect: {avail: 1G - 128M}
"""


def _run(tmp_path, capsys, classes: str = CLASSES, cases: str = CASES, *extra: str):
    _file(tmp_path, classes)
    write_spec(tmp_path, "specs/c.yaml", cases)
    out = tmp_path / "pairs.json"
    rc = main(["cover", "--pairs", "--backend", "reference", "--specs", str(tmp_path / "specs"),
               "--json", str(out), *extra])
    text = capsys.readouterr().out
    return rc, text, json.loads(out.read_text()) if out.is_file() else None


@pytest.mark.treeless
def test_only_checked_steps_count_and_refused_ones_only_for_their_class(tmp_path, capsys):
    rc, text, data = _run(tmp_path, capsys)
    assert rc == 1  # pairs are missing
    exercised = {tuple(e["pair"]): e["cases"] for e in data["exercised"]}
    # Step 1 (blocks + avail) and step 2 (a check step right after) count; t.unchecked not.
    assert exercised[("flag.range", "flag.topdown")] == ["t.checked"]
    assert exercised[("size.small", "fragmentation.fresh")] == ["t.checked"]
    assert exercised[("size.large", "fragmentation.fragmented")] == ["t.checked"]
    assert ("flag.topdown", "size.large") not in exercised
    # The refused 1K request exercises its own class's pairs only.
    assert exercised[("size.below-chunk", "fragmentation.fragmented")] == ["t.checked"]
    assert data["steps"] == 3 and data["unchecked_steps"] == 2
    assert ["flag.topdown", "size.large"] in data["missing"]
    assert "flag.topdown x size.large" in text and "missing of" in text


@pytest.mark.treeless
def test_waivers_complete_the_report_and_an_exercised_exact_waiver_is_stale(tmp_path, capsys):
    waived = CLASSES.replace("waivers: []\n", """waivers:
  - {pair: [flag.*, size.large], reason: "large requests are someone else's"}
  - {pair: ["*", size.below-chunk], reason: refused}
  - {pair: [flag.range, fragmentation.fragmented], reason: not needed}
  - {pair: [flag.topdown, fragmentation.fragmented], reason: not needed}
  - {pair: [size.small, fragmentation.fragmented], reason: not needed}
  - {pair: [size.large, fragmentation.fresh], reason: not needed}
""")
    rc, text, data = _run(tmp_path, capsys, waived)
    assert data["missing"] == [] and data["stale_waivers"] == []
    assert rc == 0, text
    assert data["figure"]["waived"] == len(data["waived"]) > 0
    stale = waived.replace("[size.small, fragmentation.fragmented]",
                           "[size.small, fragmentation.fresh]")
    rc, text, data = _run(tmp_path, capsys, stale)
    assert rc == 1
    assert any("size.small x fragmentation.fresh, which t.checked exercise" in s
               for s in data["stale_waivers"])


@pytest.mark.treeless
def test_a_waiver_for_some_kernels_applies_only_to_them(tmp_path):
    text = CLASSES.replace("waivers: []\n", """waivers:
  - {pair: [size.large, "*"], kernels: [6.1], reason: refused there}
""")
    inter = interactions.load_file(_file(tmp_path, text))
    feats = frozenset(interactions.FEATURES)
    assert inter.for_kernel("6.1.176", feats).waivers
    assert inter.for_kernel("6.1", feats).waivers
    assert not inter.for_kernel("6.12.117", feats).waivers
    assert not inter.for_kernel("7.2.13", feats).waivers
    # A class waived with everything on a kernel is not reported as never exercised there.
    rep = pairs.report([], inter.for_kernel("6.1.176", feats), kernel="6.1.176", backend="x")
    assert "size.large" not in rep.never and "size.small" in rep.never
    bad = CLASSES.replace("waivers: []\n", """waivers:
  - {pair: [size.large, "*"], kernels: [six], reason: x}
""")
    with pytest.raises(SpecError, match="is not a kernel version"):
        interactions.load_file(_file(tmp_path, bad))


@pytest.mark.treeless
def test_classes_with_features_only_on_kernels_that_have_them(tmp_path):
    text = CLASSES.replace('topdown: {when: "topdown == 1"}',
                           'topdown: {when: "topdown == 1", requires: [clear]}')
    inter = interactions.load_file(_file(tmp_path, text))
    assert "flag.topdown" not in [c.id for c in inter.for_kernel("6.1", frozenset()).classes()]
    assert "flag.topdown" in [c.id for c in inter.for_kernel("7.2", frozenset({"clear"}))
                              .classes()]


@pytest.mark.treeless
def test_an_xfail_counts_up_to_its_failed_check(tmp_path, capsys):
    failing = CASES.replace("expect: {error: EINVAL, avail: 1G - 40M}",
                            "expect: {error: ENOSPC, avail: 1G - 40M}")
    write_spec(tmp_path, "specs/expectations/reference.yaml",
               "t.checked: the 1K request is EINVAL\n")
    rc, text, data = _run(tmp_path, capsys, CLASSES, failing)
    exercised = {tuple(e["pair"]) for e in data["exercised"]}
    assert ("flag.range", "flag.topdown") in exercised
    assert ("size.below-chunk", "fragmentation.fragmented") not in exercised
    assert "size.below-chunk" in data["never_exercised"]


@pytest.mark.treeless
def test_pairs_usage_errors(tmp_path, capsys):
    write_spec(tmp_path, "specs/c.yaml", CASES)
    assert main(["cover", "--pairs", "--backend", "reference", "--specs",
                 str(tmp_path / "specs")]) == 2
    assert "no interactions.yaml" in capsys.readouterr().err
    _file(tmp_path, "families: {f: {classes: {a: {when: 'nope == 1'}}}}\n")
    assert main(["cover", "--pairs", "--backend", "reference", "--specs",
                 str(tmp_path / "specs")]) == 2
    assert "unknown name 'nope'" in capsys.readouterr().err
    assert main(["cover", "--pairs", "--backend", "reference", "--html", "x.html"]) == 2
    assert main(["cover", "--backend", "native@7.2", "--every-pair"]) == 2


@pytest.mark.treeless
def test_the_corpus_interactions_file_loads_and_is_not_a_case_file():
    from harness.spec.loader import load_paths

    root = Path(__file__).resolve().parent.parent / "specs"
    inter = interactions.load_file(root / interactions.FILE)
    assert len(inter.pairs()) > 500
    assert not any(str(e).startswith(str(root / interactions.FILE))
                   for e in load_paths([root]).errors)


NATIVE = available_trees()


@pytest.mark.skipif("native@7.2" not in NATIVE, reason="no cached 7.2 tree")
@pytest.mark.parametrize("name", sorted(NATIVE) or ["native@7.2"])
def test_every_pair_is_exercised_or_waived(capsys, name):
    rc = main(["cover", "--pairs", "--backend", name, "--every-pair"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert " 0 missing of " in text and "classes never exercised" not in text
    assert "exercised pairs:" in text and "waived pairs:" in text


@pytest.mark.treeless
def test_pairs_report_json_shape():
    rep = pairs.PairReport("7.2", "reference", ["a.x", "b.y"])
    rep.exercised[("a.x", "b.y")] = ["c"]
    assert rep.complete and rep.total == 1
    assert json.loads(json.dumps(rep.to_json()))["figure"] == {
        "exercised": 1, "waived": 0, "missing": 0, "total": 1}


@pytest.mark.treeless
def test_paths_inside_repeats_name_their_step_and_sort_by_iteration(tmp_path):
    from tests.helpers import load_one

    case = load_one(tmp_path, """
id: t.repeat
title: a repeat
source: {kind: extra, ref: test}
layer: core
buddy: {size: 1G, chunk_size: 4K}
steps:
  - alloc: {as: a, size: 4K}
  - repeat:
      count: 3
      steps:
        - alloc: {as: "b{i}", size: 4K}
          expect: {count: 1, avail_delta: -4K}
""")
    step, siblings, idx = pairs.step_at(case, "2[1].1")
    assert step is siblings[idx] and pairs.checked(step, siblings, idx)
    assert not pairs.checked(*pairs.step_at(case, "1"))
    assert pairs.step_at(case, "3") is None and pairs.step_at(case, "1.1") is None
    order = pairs._order
    assert order("2[0].1") < order("2[1].1") < order("2[2].1") < order("3")
    assert order("1") < order("2[0].1")
