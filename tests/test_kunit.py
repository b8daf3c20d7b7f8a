"""The kernel's own KUnit suite in user space: items, the stand-in's KTAP, crashes, the verb.

Tests that build need a cached tree and gcc; they skip with the reason otherwise, as
tests/test_native.py does.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.backends.native.testing import why_unavailable
from harness.kunit import settings, source
from harness.kunit.settings import configure
from tests.scratch_tree import cached_tree, copy_tree

SKIP = why_unavailable()
native = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@pytest.fixture(autouse=True)
def _default_settings():
    configure(skip_slow=True)  # the slow case is 0.3 s on a quiet machine, seconds on a busy one
    yield
    configure()


def _open(path_or_name: str):
    from harness.backends.native import open_backend

    return open_backend(f"native@{path_or_name}" if "@" not in path_or_name else path_or_name,
                        log=lambda _m: None)


def _outcomes(name: str) -> dict:
    b = _open(name)
    try:
        (suite,) = b.suites()
        return {o.case_id: o for o in suite.outcomes()}
    finally:
        b.close()


# -- the cases of a file, read without building ------------------------------------

TABLE = """
static void a(struct kunit *test) {}
static struct kunit_case some_tests[] = {
\tKUNIT_CASE(first),
\tKUNIT_CASE_SLOW(second),
\t{}
};

static struct kunit_suite some_suite = {
\t.name = "some",
\t.test_cases = some_tests,
};
kunit_test_suite(some_suite);
"""


@pytest.mark.treeless
def test_cases_are_read_in_order_with_their_suite_and_speed():
    got = source.cases(TABLE)
    assert [(c.id, c.slow, c.line) for c in got] == [
        ("kunit.some.first", False, 4), ("kunit.some.second", True, 5)]


@pytest.mark.parametrize("version,suite,count,slow", [
    ("7.2", "gpu_buddy", 12, ["gpu_test_buddy_fragmentation_performance"]),
    ("6.12", "gpu_buddy", 7, []),
    ("6.1", "drm_buddy", 6, [])])
def test_each_tree_lists_its_kunit_cases(version, suite, count, slow):
    from harness.suites import KINDS
    from harness.trees.tree import inspect

    tree = inspect(cached_tree(version))
    ids = KINDS["kunit"].collect(tree)
    assert len(ids) == count and all(i.startswith(f"kunit.{suite}.") for i in ids)
    kf = source.find(tree)
    assert kf is not None and kf.helpers  # its random helpers were kept by the fetch
    assert [c.name for c in kf.cases if c.slow] == slow


@pytest.mark.treeless
def test_kunit_is_a_native_suite_only():
    from harness.suites import kinds_for

    assert "kunit" in [k.name for k in kinds_for("native")]
    assert "kunit" not in [k.name for k in kinds_for("rust")]


@pytest.mark.treeless
def test_a_seed_is_32_bits_in_hex_or_decimal():
    import argparse

    assert settings.seed_value("0x5eed1e55") == 0x5EED1E55
    assert settings.seed_value("17") == 17
    for bad in ("x", "-1", str(1 << 32)):
        with pytest.raises(argparse.ArgumentTypeError):
            settings.seed_value(bad)


# -- the trees' own suites -------------------------------------------------------------

@native
@pytest.mark.parametrize("version,count", [("7.2", 12), ("6.12", 7), ("6.1", 6)])
def test_every_case_of_each_tree_passes_on_its_own_c(version, count):
    cached_tree(version)
    got = _outcomes(version)
    assert len(got) == count
    statuses = {i: o.status for i, o in got.items()}
    slow = [i for i in got if i.endswith("fragmentation_performance")]
    assert all(statuses[i] == "skip" for i in slow)
    assert all(s == "pass" for i, s in statuses.items() if i not in slow), statuses


@native
def test_the_seed_reaches_the_suite_that_prints_it():
    cached_tree("7.2")
    configure(seed=0x1234ABCD, skip_slow=True)
    b = _open("7.2")
    try:
        (suite,) = b.suites()
        suite.outcomes()
        assert "with random_seed=0x1234abcd" in suite.last.ktap
    finally:
        b.close()


# -- a tree of our own: what each way of ending a case gives ------------------------

OWN_TEST = r"""
// The harness's own cases against the stand-in: one per way a case can end.
#include <kunit/test.h>
#include <linux/gpu_buddy.h>
#include <linux/sizes.h>

static void passes(struct kunit *test)
{
	struct gpu_buddy mm;

	KUNIT_ASSERT_FALSE(test, gpu_buddy_init(&mm, SZ_1M, SZ_4K));
	KUNIT_EXPECT_EQ(test, mm.avail, (u64)SZ_1M);
	gpu_buddy_fini(&mm);
}

static void expectation_fails(struct kunit *test)
{
	struct gpu_buddy mm;
	LIST_HEAD(blocks);
	bool flag = true;
	int err;

	KUNIT_ASSERT_FALSE(test, gpu_buddy_init(&mm, SZ_1M, SZ_4K));
	err = gpu_buddy_alloc_blocks(&mm, 0, SZ_1M, SZ_2M, SZ_4K, &blocks, 0);
	KUNIT_EXPECT_EQ(test, err, -ENOSPC);
	KUNIT_EXPECT_EQ_MSG(test, flag, false, "flag was %d", flag);
	kunit_info(test, "still running after the expectations\n");
	gpu_buddy_fini(&mm);
}

static void assertion_ends_the_case(struct kunit *test)
{
	KUNIT_ASSERT_TRUE(test, 1 == 2);
	kunit_info(test, "never printed\n");
}

static void bug_on_crashes(struct kunit *test)
{
	struct gpu_buddy_block *block;
	struct gpu_buddy mm;
	LIST_HEAD(blocks);

	KUNIT_ASSERT_FALSE(test, gpu_buddy_init(&mm, SZ_1M, SZ_4K));
	KUNIT_ASSERT_FALSE(test, gpu_buddy_alloc_blocks(&mm, 0, SZ_1M, SZ_4K, SZ_4K, &blocks, 0));
	block = list_first_entry(&blocks, struct gpu_buddy_block, link);
	list_del(&block->link);
	gpu_buddy_free_block(&mm, block);
	gpu_buddy_free_block(&mm, block);
}

static void spins(struct kunit *test)
{
	volatile int forever = 1;

	KUNIT_EXPECT_TRUE(test, forever);
	while (forever)
		;
}

static void allocator_invariant_fails(struct kunit *test)
{
	struct gpu_buddy mm;
	LIST_HEAD(blocks);

	KUNIT_ASSERT_FALSE(test, gpu_buddy_init(&mm, SZ_1M, SZ_4K));
	KUNIT_ASSERT_FALSE(test, gpu_buddy_alloc_blocks(&mm, 0, SZ_1M, SZ_4K, SZ_4K, &blocks, 0));
	gpu_buddy_fini(&mm);  /* a block still allocated: fini's own assertion fails the case */
}

static void skips(struct kunit *test)
{
	kunit_skip(test, "not today");
	KUNIT_FAIL(test, "unreachable");
}

static struct kunit_case own_tests[] = {
	KUNIT_CASE(passes),
	KUNIT_CASE(expectation_fails),
	KUNIT_CASE(assertion_ends_the_case),
	KUNIT_CASE(bug_on_crashes),
	KUNIT_CASE(spins),
	KUNIT_CASE(allocator_invariant_fails),
	KUNIT_CASE(skips),
	{}
};

static struct kunit_suite own_suite = {
	.name = "own",
	.test_cases = own_tests,
};

kunit_test_suite(own_suite);
"""


def _line(text: str) -> int:
    """The line of OWN_TEST holding ``text``, as the compiler numbers it."""
    return next(n for n, ln in enumerate(OWN_TEST.splitlines(), 1) if text in ln)


@pytest.fixture(scope="module")
def own_tree(tmp_path_factory) -> Path:
    if SKIP:
        pytest.skip(SKIP)
    root = copy_tree(tmp_path_factory.mktemp("own"), "7.2")
    (root / "drivers/gpu/tests/gpu_buddy_test.c").write_text(OWN_TEST)
    return root


@pytest.fixture(scope="module")
def own_run(own_tree):
    configure(timeout=2)
    b = _open(str(own_tree))
    try:
        (suite,) = b.suites()
        got = {o.case_id.rpartition(".")[2]: o for o in suite.outcomes()}
        return got, suite.last.ktap
    finally:
        b.close()
        configure()


def test_a_passing_case_passes(own_run):
    assert own_run[0]["passes"].status == "pass"


def test_a_failed_expectation_reads_as_kunit_prints_it(own_run):
    got, ktap = own_run
    o = got["expectation_fails"]
    assert o.status == "fail"
    at = _line("KUNIT_EXPECT_EQ(test, err, -ENOSPC)")
    assert (o.file, o.line) == ("drivers/gpu/tests/gpu_buddy_test.c", at)
    # -ENOSPC expanded as the kernel's macros expand it, so it is a literal: shown once.
    assert ("    # expectation_fails: EXPECTATION FAILED at "
            f"drivers/gpu/tests/gpu_buddy_test.c:{at}\n"
            "    Expected err == -28, but\n"
            "        err == -22 (0xffffffffffffffea)\n") in ktap
    # false is an enumerator, as in the kernel: not "== 0"
    assert ("    Expected flag == false, but\n"
            "        flag == 1 (0x1)\n"
            "        false == 0 (0x0)\n"
            "flag was 1\n") in ktap
    assert "still running after the expectations" in ktap  # an expectation does not end it
    assert "(and 1 more failures)" in o.message
    assert re.search(r"^    not ok 2 expectation_fails$", ktap, re.M)


def test_a_failed_assertion_ends_the_case(own_run):
    got, ktap = own_run
    assert got["assertion_ends_the_case"].status == "fail"
    assert "Expected 1 == 2 to be true, but is false" in got["assertion_ends_the_case"].message
    assert "never printed" not in ktap


def test_a_bug_on_is_that_case_crashing_with_the_last_line_seen(own_run):
    got, ktap = own_run
    o = got["bug_on_crashes"]
    assert o.status == "crash"
    at = _line("KUNIT_ASSERT_FALSE(test, gpu_buddy_alloc_blocks(&mm, 0, SZ_1M, SZ_4K, SZ_4K")
    assert f"try faulted: last line seen drivers/gpu/tests/gpu_buddy_test.c:{at}" in o.message
    assert "BUG_ON(" in o.message and "drivers/gpu/buddy.c" in o.message
    assert got["spins"].status == "crash"  # the next cases still ran
    assert got["skips"].status == "skip"


def test_a_case_that_never_ends_times_out(own_run):
    got, ktap = own_run
    o = got["spins"]
    assert o.status == "crash" and o.message.startswith("try timed out after 2 s")
    at = _line("KUNIT_EXPECT_TRUE(test, forever)")
    assert f"last line seen drivers/gpu/tests/gpu_buddy_test.c:{at}" in o.message
    assert "    # spins: try timed out\n" in ktap


def test_the_allocators_own_assertion_fails_the_running_case(own_run):
    o = own_run[0]["allocator_invariant_fails"]
    assert o.status == "fail"
    assert re.match(r"drivers/gpu/buddy\.c:\d+: gpu_buddy_assert\(", o.message), o.message


def test_a_skipped_case_says_why_and_stops(own_run):
    got, ktap = own_run
    assert got["skips"].message == "not today"
    assert "    ok 7 skips # SKIP not today\n" in ktap
    assert "unreachable" not in ktap
    assert "# own: pass:1 fail:5 skip:1 total:7\n" in ktap
    assert ktap.rstrip().endswith("not ok 1 own")


@native
def test_a_file_using_what_the_stand_in_lacks_is_one_error_item(tmp_path):
    root = copy_tree(tmp_path, "7.2")
    test = root / "drivers/gpu/tests/gpu_buddy_test.c"
    text = test.read_text()
    test.write_text(text.replace("KUNIT_CASE(gpu_test_buddy_alloc_limit)",
                                 "KUNIT_CASE_PARAM(gpu_test_buddy_alloc_limit, NULL)"))
    got = _outcomes(str(root))
    assert got["kunit"].status == "error"
    assert "no parameterised cases (KUNIT_CASE_PARAM)" in got["kunit"].message
    assert "drivers/gpu/tests/gpu_buddy_test.c:" in got["kunit"].message
    assert all(o.status == "skip" for i, o in got.items() if i != "kunit")


@native
def test_a_tree_without_a_kunit_file_says_so_once(tmp_path):
    from harness.backends.native import open_backend

    root = copy_tree(tmp_path, "7.2")
    shutil.rmtree(root / "drivers/gpu/tests")
    said: list[str] = []
    for _ in range(2):
        b = open_backend(f"native@{root}", log=said.append)
        assert b.suites() == []
        b.close()
    assert len([m for m in said if "no KUnit file" in m]) == 1


# -- buddy-harness kunit: KTAP the tree's own parser reads ---------------------------

PARSE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import kunit_parser, kunit_printer
lines = open(sys.argv[2]).read().splitlines(keepends=True)
try:  # 7.x takes a printer; 6.x prints through its own
    test = kunit_parser.parse_run_tests(lines, kunit_printer.stdout)
except TypeError:
    test = kunit_parser.parse_run_tests(lines)
print(json.dumps({"status": test.status.name, "errors": test.counts.errors,
                  "cases": {c.name: c.status.name for s in test.subtests for c in s.subtests}}))
"""


def _kunit_verb(tmp_path: Path, *args: str):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "kunit.json"
    r = subprocess.run([sys.executable, "-m", "harness", "kunit", "--json", str(out), *args],
                       capture_output=True, text=True, env=dict(os.environ))
    return r, json.loads(out.read_text()) if out.is_file() else None


def _parsed_by_tree(tree: Path, ktap: str, tmp_path: Path) -> dict:
    import json
    import subprocess
    import sys

    parser = tree / "tools/testing/kunit"
    if not (parser / "kunit_parser.py").is_file():
        pytest.skip(f"{tree} has no tools/testing/kunit/kunit_parser.py")
    (tmp_path / "out.ktap").write_text(ktap)
    (tmp_path / "parse.py").write_text(PARSE)
    r = subprocess.run([sys.executable, str(tmp_path / "parse.py"), str(parser),
                        str(tmp_path / "out.ktap")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@native
@pytest.mark.parametrize("version", ["7.2", "6.12", "6.1"])
def test_the_verb_prints_ktap_the_trees_own_parser_reads(version, tmp_path):
    tree = cached_tree(version)
    r, results = _kunit_verb(tmp_path, "--backend", f"native@{version}", "--kunit-skip-slow")
    assert r.returncode == 0, r.stderr
    parsed = _parsed_by_tree(tree, r.stdout, tmp_path)
    assert parsed["status"] == "SUCCESS" and parsed["errors"] == 0
    ours = {o["case"].rpartition(".")[2]: o["outcome"] for o in results["results"]}
    assert {n: "pass" if s == "SUCCESS" else "skip" for n, s in parsed["cases"].items()} == ours
    assert results["summary"]["total"] == len(ours) and results["expectations"]


@native
def test_failures_and_crashes_read_by_the_parser_as_kunit_reports_them(own_tree, tmp_path):
    r, results = _kunit_verb(tmp_path, "--backend", f"native@{own_tree}", "--expect-as", "none",
                             "--kunit-timeout", "2")
    assert r.returncode == 1
    parsed = _parsed_by_tree(cached_tree("7.2"), r.stdout, tmp_path)
    assert parsed["cases"] == {
        "passes": "SUCCESS", "expectation_fails": "FAILURE",
        "assertion_ends_the_case": "FAILURE", "bug_on_crashes": "FAILURE", "spins": "FAILURE",
        "allocator_invariant_fails": "FAILURE", "skips": "SKIPPED"}
    ours = {o["case"].rpartition(".")[2]: o["outcome"] for o in results["results"]}
    assert ours["bug_on_crashes"] == "crash" and ours["expectation_fails"] == "fail"


@pytest.mark.treeless
def test_the_verb_refuses_a_rust_backend(tmp_path):
    r, _ = _kunit_verb(tmp_path, "--backend", "rust@7.2")
    assert r.returncode == 2 and "give a native@ backend" in r.stderr


# -- watch: an edit of the C (or of the test file) reruns the KUnit items -----------

TRY_HARDER = ("\t\tif ((flags & GPU_BUDDY_CONTIGUOUS_ALLOCATION) &&\n"
              "\t\t    !(flags & GPU_BUDDY_RANGE_ALLOCATION))\n")


@native
def test_watch_reruns_the_kunit_items_after_an_edit_of_the_c(tmp_path):
    from harness.commands.watch import Watcher, WatchRequest

    tree = copy_tree(tmp_path, "7.2")
    name = f"native@{tree}"
    specs = tmp_path / "specs"
    specs.mkdir()
    w = Watcher(WatchRequest([specs], [name], keyword="exceeds_max_order"))
    w.load()
    assert w.open(name) is None
    first = w.run([name])
    w.record(first, None)
    item = "kunit.gpu_buddy.gpu_test_buddy_alloc_exceeds_max_order"
    assert [(o.case_id, o.status) for o in first] == [(item, "pass")]
    buddy = tree / "drivers/gpu/buddy.c"
    good = buddy.read_text()
    assert TRY_HARDER in good
    buddy.write_text(good.replace(TRY_HARDER, TRY_HARDER.replace("!(flags", "(flags")))
    lines = w.handle({buddy})
    assert lines[0].startswith(f"{item} on {name}: pass -> fail: ASSERTION FAILED at "
                               "drivers/gpu/tests/gpu_buddy_test.c:"), lines
    buddy.write_text(good)
    assert w.handle({buddy})[0].endswith("fail -> pass")
    test = tree / "drivers/gpu/tests/gpu_buddy_test.c"
    test.write_text(test.read_text().replace("KUNIT_EXPECT_EQ(test, err, -EINVAL);",
                                             "KUNIT_EXPECT_EQ(test, err, -ENOSPC);", 1))
    assert w.handle({test})[0].startswith(f"{item} on {name}: pass -> fail: EXPECTATION")
    w.close()


# -- export kunit: cases as KUnit tests in C ---------------------------------------

HOSTILE = ['a title */ int evil; /* with a comment end', 'two\nlines', 'quote " and \\ back',
           'trigraph ??= and ??/', 'tab\tand \x01 and é', '%s %n %%']


@pytest.mark.treeless
def test_spec_text_becomes_one_literal_that_reads_back_exactly(tmp_path):
    import subprocess

    from harness.kunit.export import c_string

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    lits = ",\n".join(c_string(t) for t in HOSTILE)
    assert all("\n" not in c_string(t) for t in HOSTILE)
    (tmp_path / "t.c").write_text("#include <stdio.h>\nstatic const char *t[] = {\n" + lits +
                                  "\n};\nint main(void) { for (int i = 0; i < "
                                  f"{len(HOSTILE)}; i++) {{ fputs(t[i], stdout); "
                                  "putchar(0); } return 0; }\n")
    subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-o", str(tmp_path / "t"),
                    str(tmp_path / "t.c")], check=True)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [t.encode() for t in HOSTILE]


def _cases(*ids: str):
    from harness.spec.cache import load_paths_cached
    from tests.test_cli import ROOT

    cases = load_paths_cached([ROOT / "specs"]).cases
    return [c for c in cases if not ids or c.id in ids]


@native
def test_what_cannot_be_exported_is_named_with_the_reason():
    from harness.kunit.export import export
    from harness.trees.tree import inspect

    got = export(_cases(), inspect(cached_tree("7.2")))
    reasons = dict(got.refused)
    assert "binding-layer" in reasons["rustdoc.simple-alloc-lands-at-top"]
    assert "fault injection" in reasons["extra.fail-alloc-split-is-enomem"]
    assert got.tests and not any(t.case_id in reasons for t in got.tests)
    on_61 = export(_cases("kernel-doc.contiguous-single-block"), inspect(cached_tree("6.1")))
    assert "needs contiguous" in dict(on_61.refused)["kernel-doc.contiguous-single-block"]


def _findings() -> set[str]:
    """The cases 7.2's C fails: each is a finding, listed in its expectation file."""
    from tests.test_cli import ROOT

    text = (ROOT / "specs/expectations/native@7.2.yaml").read_text()
    return set(re.findall(r"^([a-z][a-z0-9.-]+)(?:\[[^\]]*\])?:", text, re.M))


@native
def test_exported_cases_fail_in_kunit_exactly_where_they_fail_and_the_rest_pass(tmp_path):
    """Every exportable core case of the corpus on 7.2: a finding fails at the step its case
    fails at, a passing case passes (the engine on the same build decides which is which)."""
    from harness.backends.native import open_backend
    from harness.engine.run import run_case
    from harness.kunit import export as ex

    root = copy_tree(tmp_path, "7.2")
    backend = open_backend(f"native@{root}", log=lambda _m: None)
    cases = {c.id: c for c in _cases()}
    got = ex.export(list(cases.values()), backend.tree)
    test = root / "drivers/gpu/tests/gpu_buddy_test.c"
    text = test.read_text()
    test.write_text(ex.patched(text, ex.case_table(text), got))
    backend.close()
    backend = open_backend(f"native@{root}", log=lambda _m: None)
    try:
        (suite,) = backend.suites()
        kunit = {o.case_id: o for o in suite.outcomes()}
        assert "kunit" not in kunit, kunit.get("kunit")
        failing = set()
        for t in got.tests:
            case = cases[t.case_id]
            ps = next(p for p in case.combinations() if p.id == t.params)
            engine = run_case(case, ps, backend)
            k = kunit[f"kunit.gpu_buddy.{t.function}"]
            if engine.status == "pass":
                assert k.status == "pass", (t.function, k.message)
                continue
            failing.add(t.case_id)
            where = re.match(r"step \S+ \(line \d+\)|line \d+", engine.message)
            assert k.status == "fail" and where and where[0] + ":" in k.message, \
                (t.function, engine.message, k.message)
    finally:
        backend.close()
    exportable_findings = {f for f in _findings() if f in {t.case_id for t in got.tests}}
    assert exportable_findings and exportable_findings <= failing
    # the four module tests of the tree itself still run beside them
    assert kunit["kunit.gpu_buddy.gpu_test_buddy_alloc_limit"].status == "pass"


@native
def test_the_patch_adds_the_tests_to_the_trees_own_file(tmp_path):
    import subprocess
    import sys

    cached_tree("7.2")
    out = tmp_path / "p.patch"
    r = subprocess.run([sys.executable, "-m", "harness", "export", "kunit",
                        "kernel-doc.contiguous-single-block", "--patch", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    patch = out.read_text()
    assert patch.startswith("From ") and "Subject: [PATCH] drivers/gpu/tests:" in patch
    assert "+++ b/drivers/gpu/tests/gpu_buddy_test.c" in patch
    assert "+\tKUNIT_CASE(harness_kernel_doc_contiguous_single_block_sz_12m)," in patch
    root = copy_tree(tmp_path, "7.2")
    if shutil.which("patch") is None:
        pytest.skip("no patch(1)")
    subprocess.run(["patch", "-p1", "-s", "-i", str(out)], cwd=root, check=True)
    got = _outcomes(str(root))
    assert got["kunit.gpu_buddy.harness_kernel_doc_contiguous_single_block_sz_12m"].status \
        == "fail"
    assert got["kunit.gpu_buddy.gpu_test_buddy_alloc_limit"].status == "pass"


# -- fidelity: the user-space verdicts are kunit.py's on UML --------------------------

RECORDS = Path(__file__).with_name("records") / "kunit-uml"


def _records() -> list[Path]:
    return sorted(RECORDS.glob("*.ktap")) if RECORDS.is_dir() else []


@native
@pytest.mark.parametrize("record", _records() or [None], ids=lambda p: p.stem if p else "none")
def test_user_space_verdicts_equal_kunit_py_on_uml(record, tmp_path):
    """Each record is kunit.py's output on UML for one variant of 7.2's buddy.c
    (harness/slips.py; how they were made: docs/kunit.md)."""
    from harness.slips import apply
    from tests.kunit_variants import verdicts

    if record is None:
        pytest.skip(f"no kunit.py record in {RECORDS} (made on a full 7.2 tree: docs/kunit.md)")
    uml = verdicts(record.read_text())
    assert uml, f"{record}: no KTAP case lines"
    root = copy_tree(tmp_path, "7.2")
    apply(root, record.stem)
    configure()  # every case, the slow one too, as kunit.py ran them
    got = {o.case_id.rpartition(".")[2]: o.status for o in _outcomes(str(root)).values()}
    ours = {name: "ok" if s == "pass" else "skip" if s == "skip" else "not ok"
            for name, s in got.items()}
    assert ours == uml


@native
@pytest.mark.parametrize("variant,failing", [
    ("no-try-harder", {"gpu_test_buddy_alloc_exceeds_max_order"}),
    ("free-forgets-clear", {"gpu_test_buddy_alloc_clear"}),
    ("max-order-off-by-one", {"gpu_test_buddy_alloc_optimistic"})])
def test_each_wrong_variant_fails_the_case_that_guards_it(variant, failing, tmp_path):
    from harness.slips import apply

    root = copy_tree(tmp_path, "7.2")
    apply(root, variant)
    got = _outcomes(str(root))
    assert {i.rpartition(".")[2] for i, o in got.items() if o.status == "fail"} == failing


@pytest.mark.treeless
def test_export_of_an_unknown_case_is_one_line_and_exit_2():
    import subprocess
    import sys

    from tests.test_cli import ROOT

    r = subprocess.run([sys.executable, "-m", "harness", "export", "kunit", "no.such-case"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    # Without a cached 7.2 the quotes are not checked, and it says so first.
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("quote check skipped:")]
    assert lines == ["buddy-harness export: no case matches 'no.such-case'"]


@native
def test_the_verb_on_a_tree_without_a_kunit_file_says_so_and_runs_nothing(tmp_path):
    root = copy_tree(tmp_path, "7.2")
    shutil.rmtree(root / "drivers/gpu/tests")
    r, results = _kunit_verb(tmp_path, "--backend", f"native@{root}")
    assert r.returncode == 5 and results is None
    assert r.stderr.count("no KUnit file for the gpu_buddy allocator") == 1


@native
@pytest.mark.parametrize("record", _records() or [None], ids=lambda p: p.stem if p else "none")
def test_with_uml_seed_the_ktap_is_kunit_py_s_line_for_line(record, tmp_path):
    """Replaying the seed a UML run printed, the user-space KTAP is that run's, timings
    aside: the same cases, the same diagnostics, the same failure texts."""
    from harness.slips import apply

    if record is None:
        pytest.skip(f"no kunit.py record in {RECORDS}")
    uml = record.read_text()
    seed = re.search(r"random_seed=(0x[0-9a-f]+)", uml)
    assert seed, f"{record}: no seed printed"
    root = copy_tree(tmp_path, "7.2")
    apply(root, record.stem)
    configure(seed=int(seed[1], 16))
    b = _open(str(root))
    try:
        (suite,) = b.suites()
        suite.outcomes()
        ours = suite.last.ktap
    finally:
        b.close()

    def lines(text: str) -> list[str]:
        start = text.index("KTAP version 1")
        return [ln for ln in text[start:].splitlines() if not re.search(r"took \d+ ms$", ln)]

    assert lines(ours) == lines(uml)


@pytest.mark.treeless
def test_export_never_writes_over_one_of_its_inputs(tmp_path, capsys):
    from harness.cli import main

    spec = tmp_path / "specs" / "a.yaml"
    spec.parent.mkdir()
    spec.write_text("cases: []\n")
    rc = main(["export", "kunit", "*", "--specs", str(spec.parent), "-o", str(spec)])
    assert rc == 2 and spec.read_text() == "cases: []\n"
    assert f"--output {spec} is one of the run's inputs" in capsys.readouterr().err
