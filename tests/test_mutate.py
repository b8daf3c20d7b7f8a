"""Mutation testing: what the mutant generator proposes, the list of accepted survivors kept
true, and the verb end to end on a few mutants of the kernel's C."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.mutation import survivors
from harness.mutation.mutants import generate

SNIPPET = """\
#include <linux/kernel.h>
/* a comment with a < b and x + 1 */
static int f(struct s *mm, u64 a, u64 b)
{
	const char *msg = "a < b + 1";
	if (a < b && mm->x == 2)
		mm->avail += a << 1;
	g(a, b);
	return a - b;
}

void thing_print(int a)
{
	if (a > 1)
		h(a, 2);
}
"""


def _by_op(src: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in generate(src):
        out.setdefault(m.operator, []).append((" ".join(m.original.split()), m.replacement))
    return out


@pytest.mark.treeless
def test_every_operator_proposes_its_changes_and_nothing_outside_code():
    got = _by_op(SNIPPET)
    assert got["ror"] == [("<", "<="), ("&&", "||"), ("==", "!=")]
    assert got["aor"] == [("+=", "-="), ("<<", ">>"), ("-", "+")]
    assert sorted(got["const"]) == [("1", "0"), ("1", "2"), ("2", "1"), ("2", "3")]
    assert got["negate"] == [("a < b && mm->x == 2", "!(a < b && mm->x == 2)")]
    assert got["delete"] == [("mm->avail += a << 1;", ";"), ("g(a, b);", ";")]
    assert got["swap"] == [("a, b", "b, a")]
    # Comments, strings, the preprocessor, declarators and the print helper are left alone.
    assert all(m.function == "f" for m in generate(SNIPPET))


@pytest.mark.treeless
def test_mutants_apply_and_ids_survive_edits_elsewhere():
    ms = generate(SNIPPET)
    assert len({m.id for m in ms}) == len(ms)
    for m in ms:
        changed = m.apply(SNIPPET)
        assert changed != SNIPPET
        assert m.diff(SNIPPET, "x.c").count("\n-") >= 1
    shifted = generate("/* one more line */\nint unused;\n" + SNIPPET)
    assert [m.id for m in shifted] == [m.id for m in ms]
    assert [m.line for m in shifted] == [m.line + 2 for m in ms]


@pytest.mark.treeless
def test_accepted_survivors_are_kept_true(tmp_path):
    listed = {"f:ror:aaaa": survivors.Entry("equivalent", "x"),
              "f:ror:bbbb": survivors.Entry("equivalent", "y"),
              "f:ror:cccc": survivors.Entry("needs-fault-injection", "z")}
    problems = survivors.stale(listed, {"f:ror:aaaa", "f:ror:cccc"}, {"f:ror:cccc"},
                               tmp_path / "v.yaml")
    assert len(problems) == 2
    assert "f:ror:bbbb: names no mutant" in problems[0]
    assert "f:ror:cccc: is killed now" in problems[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("f:ror:aaaa: {kind: maybe, reason: x}\n")
    with pytest.raises(ValueError, match="kind"):
        survivors.load_file(bad)


def _tree(version: str):
    from harness.backends.native import testing

    if f"native@{version}" not in testing.available_trees():
        pytest.skip(f"native@{version} is not cached")
    from harness.trees import resolve_tree

    return resolve_tree(f"native@{version}", log=lambda m: None)


@pytest.mark.parametrize("version", ["7.2", "6.12"])
def test_every_listed_survivor_is_a_mutant_of_its_source(version):
    tree = _tree(version)
    ids = {m.id for m in generate(tree.source.read_text())}
    listed = survivors.load(version)
    assert set(listed) <= ids, set(listed) - ids


def test_the_corpus_kills_a_real_mutant_and_spares_the_original():
    from harness.mutation.mutants import Mutant
    from harness.mutation.runner import KILLED, SURVIVED, Bench

    tree = _tree("7.2")
    src = tree.source.read_text()
    bench = Bench(tree, src, [Path(__file__).resolve().parent.parent / "specs"], 3.0)
    try:
        target = "mm->avail += gpu_buddy_block_size(mm, block);"
        at = src.index(target)
        dropped = Mutant("t:delete:1", "t", "delete", 0, at, at + len(target), target, ";")
        same = Mutant("t:none:1", "t", "none", 0, at, at + len(target), target, target)
        assert bench.judge(src, dropped, 0, 1).status == KILLED
        assert bench.judge(src, same, 50, 1).status == SURVIVED
    finally:
        bench.close()


def test_the_verb_reports_text_json_and_html(tmp_path, capsys):
    _tree("7.2")
    out = tmp_path / "m.json"
    page = tmp_path / "m.html"
    rc = main(["mutate", "--backend", "native@7.2", "--sample", "4", "--seed", "5",
               "--fuzz", "50", "--jobs", "2", "--json", str(out), "--html", str(page)])
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert rc == (1 if data["counts"]["survived"] or data["problems"] else 0)
    assert sum(data["counts"].values()) == 4 == len(data["mutants"])
    assert "a sample of 4 of" in text and "(seed 5)" in text
    assert all(m["diff"].startswith("--- a/drivers/gpu/buddy.c") for m in data["mutants"])
    assert "<table>" in page.read_text()


@pytest.mark.treeless
def test_usage_errors_exit_2(capsys):
    assert main(["mutate", "--backend", "reference"]) == 2
    assert "exactly one native backend" in capsys.readouterr().err


def test_the_mutants_are_pytest_items_for_xdist(tmp_path):
    """The same judging as pytest items: collected by id, one outcome each, on xdist workers."""
    import subprocess
    import sys

    _tree("7.2")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.mutation.suite", "--pyargs",
         "harness.mutation.suite", "--mutate", "native@7.2", "--mutate-sample", "2",
         "--mutate-seed", "3", "--mutate-fuzz", "0", "--mutate-specs", str(root / "specs"),
         "-n", "2", "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    ran = [ln for ln in r.stdout.splitlines() if "::test_mutant_is_killed[" in ln]
    assert len(ran) == 2, r.stdout


def test_the_documented_mutant_counts_are_the_trees():
    """docs/strength.md says how many mutants each version's allocator has."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "strength.md").read_text()
    said = re.search(r"Linux 7\.2's\s+`buddy\.c` has (\d+) mutants, 6\.12's (\d+) and 6\.1's\s+"
                     r"`drm_buddy\.c` (\d+)\.", text)
    assert said, "docs/strength.md no longer states the mutant counts in the words this test reads"
    got = tuple(len(generate(_tree(v).source.read_text())) for v in ("7.2", "6.12", "6.1"))
    assert got == tuple(int(n) for n in said.groups())
