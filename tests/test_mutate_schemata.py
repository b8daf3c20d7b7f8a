"""Mutant schemata and replay: one build holds every mutant and each behaves in it as in its
own build (same results, same WARN_ON lines); a mutant that does not compile is found alone;
the schema runner gives the kernel's mutants the verdicts the one-build-per-mutant runner
gives them."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.mutation import schema
from harness.mutation.mutants import generate

# A file in the allocator's style: loops, a switch, a declaration macro, WARN_ON after a
# multi-line condition (whose negation removes a line), returns, a void function.
FILE = """\
#define LIST_HEAD(n) int n = 0
static int sum;

static void add(int v)
{
	sum += v;
}

static int f(int a, int b)
{
	int i, t = a * 2 + 1;
	LIST_HEAD(dfs);

	if (a > b &&
		b >= 0)
		t -= b;
	for (i = 0; i < 3; i++)
		add(i << 1);
	while (t > 10)
		t /= 2;
	switch (a & 3) {
	case 1:
		t += 4;
		break;
	default:
		t |= 8;
	}
	WARN_ON(t == 9);
	dfs = t;
	return dfs - sum;
}
"""

MAIN = """\
#include <stdio.h>
#include <stdlib.h>
static int warned;
static void bh_bug(const char *c, const char *file, int line, const char *fn)
{ printf("BUG %s %s:%d %s\\n", c, file, line, fn); exit(1); }
static int bh_warn(const char *c, const char *file, int line, const char *fn)
{ printf("WARN %s %s:%d %s\\n", c, file, line, fn); warned++; return 1; }
#define BUG_ON(c) do { if (c) bh_bug(#c, __FILE__, __LINE__, __func__); } while (0)
#define WARN_ON(c) ({ int bh_c_ = !!(c); bh_c_ && bh_warn(#c, __FILE__, __LINE__, __func__); })
#include "unit.c"
int main(void)
{
	for (int a = -2; a < 12; a++)
		for (int b = -1; b < 6; b++) {
			sum = 0;
			printf("%d %d %d\\n", a, b, f(a, b));
		}
	return 0;
}
"""

# The program ends in milliseconds; a mutant still running after this loops for ever (each
# such mutant is run twice, on its own and in the schema, so this bounds the test's time).
LOOPS_AFTER = 1.0
needs_cc = pytest.mark.skipif(shutil.which(os.environ.get("CC") or "gcc") is None,
                              reason="needs a C compiler")


def _run(tmp: Path, name: str, unit: str, env: dict[str, str] | None = None) -> str:
    d = tmp / name
    d.mkdir(exist_ok=True)
    (d / "unit.c").write_text(unit)
    (d / "main.c").write_text(MAIN)
    exe = d / "prog"
    if not exe.exists():
        subprocess.run([os.environ.get("CC") or "gcc", "-std=gnu11", "-w", "-O1",
                        f"-fmacro-prefix-map={d}/=", "-o", str(exe), str(d / "main.c")],
                       check=True, capture_output=True, text=True)
    # A mutant may loop for ever or crash: that is its behaviour, to compare like its output.
    try:
        p = subprocess.run([str(exe)], capture_output=True, text=True, timeout=LOOPS_AFTER,
                           env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        return "(timed out)"
    return p.stdout if p.returncode == 0 else f"{p.stdout}(exit {p.returncode})"


@pytest.mark.treeless
def test_every_mutant_has_a_place_and_copies_are_the_exception():
    ms = generate(FILE)
    s = schema.render(FILE, ms, "unit.c")
    assert set(s.ids) == {m.id for m in ms}
    # Only the case label, the declaring macro and the deleted assignment (which leaves its
    # variable unset) get a copy of their function; the rest sit in a region.
    case_line = FILE[:FILE.index("case 1:")].count("\n") + 1
    want = {m.id for m in ms if m.line == case_line or "LIST_HEAD" in m.original
            or m.operator == "delete" and m.original.startswith("dfs = ")}
    assert s.copied == want and len(want) == 4
    assert "#line" in s.text and "BH_IS(" in s.text


@pytest.mark.treeless
@needs_cc
def test_each_mutant_behaves_in_the_schema_as_in_its_own_build(tmp_path):
    ms = [m for m in generate(FILE) if "LIST_HEAD" not in m.original]  # that one cannot build
    s = schema.render(FILE, ms, "unit.c")
    assert _run(tmp_path, "schema", s.text, {"BH_MUTANT": "0"}) == _run(tmp_path, "orig", FILE)
    shifted = [m for m in ms if m.original.count("\n") != m.replacement.count("\n")]
    assert shifted, "the file should have a mutant that removes a line"
    for m in ms:
        own = _run(tmp_path, f"m{s.ids[m.id]}", m.apply(FILE))
        assert _run(tmp_path, "schema", s.text, {"BH_MUTANT": str(s.ids[m.id])}) == own, m.id


@pytest.mark.treeless
@needs_cc
def test_a_mutant_that_does_not_compile_is_found_alone(tmp_path):
    ms = generate(FILE)
    # Deleting the declaration macro leaves 'dfs' undeclared: only that mutant breaks.
    doomed = [m for m in ms if m.operator == "delete" and "LIST_HEAD" in m.original]
    assert len(doomed) == 1
    check = schema.render(FILE, ms, "unit.c", check=True)
    (tmp_path / "unit.c").write_text(check.text)
    (tmp_path / "main.c").write_text(MAIN)
    p = subprocess.run([os.environ.get("CC") or "gcc", "-std=gnu11", "-w", "-fsyntax-only",
                        "-fmax-errors=0", f"-fmacro-prefix-map={tmp_path}/=",
                        str(tmp_path / "main.c")], capture_output=True, text=True)
    bad, stray = schema.broken(p.stderr, "unit.c")
    assert stray == []
    assert set(bad) == {check.ids[doomed[0].id]}
    assert "dfs" in bad[check.ids[doomed[0].id]]
    assert bad[check.ids[doomed[0].id]].startswith("unit.c:")


def _tree(version: str):
    from harness.backends.native import testing

    if f"native@{version}" not in testing.available_trees():
        pytest.skip(f"native@{version} is not cached")
    from harness.trees import resolve_tree

    return resolve_tree(f"native@{version}", log=lambda m: None)


def test_the_schema_runner_gives_the_verdicts_of_one_build_per_mutant():
    """A seeded sample of 7.2's mutants (with two accepted survivors, so the fuzz budget runs,
    and one that does not compile): the same status and the same killing item or program."""
    from harness.mutation import schemata, survivors
    from harness.mutation.runner import NO_COMPILE, Bench

    tree = _tree("7.2")
    src = tree.source.read_text()
    specs = [Path(__file__).resolve().parent.parent / "specs"]
    every = generate(src)
    listed = survivors.load("7.2")
    sample = random.Random(7).sample(every, 10)
    sample += [m for m in every if m.id in listed][:2]
    sample += [m for m in every if m.id == "gpu_buddy_alloc_blocks:delete:7a7a26e4"]
    sample = sorted(set(sample), key=lambda m: m.start)
    # A timeout well above the corpus's slowest request (seconds, under load), so that
    # no verdict here depends on how busy the machine is; none of these mutants hangs.
    plan = schemata.plan(tree, src, specs, 30.0, sample, 40, 1)
    bench = Bench(tree, src, specs, 30.0)
    try:
        assert plan.baseline == bench.baseline
        judge = schemata.Judge(plan)
        for m in sample:
            old, new = bench.judge(src, m, 40, 1), judge.judge(m, 40)
            assert new.status == old.status, (m.id, old.by, new.by)
            if old.status == NO_COMPILE:  # the old message names a temporary copy
                assert new.by.split(": error: ")[1] == old.by.split(": error: ")[1]
            else:
                assert new.by == old.by, m.id
    finally:
        bench.close()
        plan.close()
