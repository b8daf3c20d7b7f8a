"""A kernel developer's own tree as a gate: judged by its own version's expectations, an
unmodified tree passes, a planted regression fails naming the case and step."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.baseline import NONE, baseline_name, expectation_name
from harness.cli import main
from tests.scratch_tree import copy_tree
from tests.test_cli import ROOT

CORPUS = str(ROOT / "specs")


@pytest.mark.parametrize("name, version, want", [
    ("native@/src/linux", "7.2.13", "native@7.2"),
    ("native", "6.12", "native@6.12"),
    ("rust@/src/linux", "7.2.13", "rust@7.2"),  # any family gets the same treatment
    ("native@7.2", "7.2.13", "native@7.2"),  # named by version: its own file
    ("native@/src/linux", "unknown", "native@/src/linux"),
    ("reference", None, "reference"),
])
@pytest.mark.treeless
def test_expectation_name(name, version, want):
    assert expectation_name(name, version) == want


@pytest.mark.treeless
def test_expect_as_overrides():
    class B:
        name = "native@/x"

    assert baseline_name(B(), "native@6.12") == "native@6.12"
    assert baseline_name(B(), NONE) is None



def test_unmodified_tree_passes(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    out = tmp_path / "r.json"
    assert main(["run", "--specs", CORPUS, "--backend", f"native@{tree}", "-q",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["expectations"] == {f"native@{tree}": "native@7.2"}
    err = capsys.readouterr().err
    assert "a Linux 7.2.13 tree, judged against the native@7.2 expectations" in err


def test_tree_without_fetch_record_uses_its_makefile(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    (tree / "buddy-harness.json").unlink()
    assert main(["run", "--specs", CORPUS, "--backend", f"native@{tree}", "-q",
                 "-k", "kernel-doc.contiguous"]) == 0
    assert "judged against the native@7.2 expectations" in capsys.readouterr().err


def test_planted_regression_fails_naming_the_case_and_step(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    buddy = tree / "drivers/gpu/buddy.c"
    check = "\t\tif (!IS_ALIGNED(new_start, mm->chunk_size))\n\t\t\treturn -EINVAL;\n"
    text = buddy.read_text()
    assert text.count(check) == 1
    buddy.write_text(text.replace(check, ""))  # block_trim stops checking its start
    assert main(["run", "--specs", CORPUS, "--backend", f"native@{tree}", "-q"]) == 1
    out = capsys.readouterr().out
    head, _, changes = out.partition("not as the expectations predict")
    assert "kernel-doc.block-trim-rejects-bad-input on native@" in changes
    assert "crash: step 9 (line 120): bug: BUG_ON" in changes


def test_expect_as_none_shows_the_known_findings(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    assert main(["run", "--specs", CORPUS, "--backend", f"native@{tree}", "-q",
                 "--expect-as", "none", "-k", "kernel-doc.contiguous-single-block"]) == 1
    assert "kernel-doc.contiguous-single-block[sz=12M] on native@" in capsys.readouterr().out


def test_pytest_judges_a_tree_by_its_version(tmp_path):
    tree = copy_tree(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        "generated/test_kernel_doc__flags_contiguous.py",
                        "--backend", f"native@{tree}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "xfailed" in r.stdout, r.stdout[-1500:]
    assert f"buddy-harness: native@{tree} is judged by the native@7.2 expectations" in r.stdout


def test_pytest_and_diff_take_expect_as(tmp_path, capsys):
    tree = copy_tree(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "generated/test_kernel_doc__flags_contiguous.py",
                        "--backend", f"native@{tree}", "--expect-as", "none"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "xfailed" not in r.stdout, r.stdout[-1500:]
    # diff: the reference and an unmodified 7.2 tree agree on every row, whatever they expect.
    args = ["diff", "--specs", CORPUS, "--backend", "reference", "--backend", f"native@{tree}",
            "-k", "contiguous"]
    assert main(args) == 0
    assert main([*args, "--expect-as", "none"]) == 0
    assert "judged against no expectation file" in capsys.readouterr().err
