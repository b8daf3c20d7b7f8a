"""One judge: every verb and the pytest plugin give an item the verdict ``run`` gives it, with
the expectation file chosen once (``--expect-as``, a tree's own version)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.reference import ReferenceBackend
from harness.cli import main
from harness.divergence import matrix
from harness.judge import Judge
from harness.spec.loader import load_file
from harness.trees import kernels
from tests import miniatures
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent

# Claims the bottom (nobody meets it: a failed check at step 1), then trims: on
# mini-crash-on-trim the trim dies, but only a run that goes on past the failure gets there.
FAILS_THEN_TRIMS = """
id: j.fails-then-trims
title: a failed check, then a trim
layer: core
source: {kind: extra, ref: test}
buddy: {chunk_size: 4K, size: 1G}
steps:
  - alloc: {as: a, size: 32M, min_block_size: 32M}
    expect: {blocks: [{offset: 0}]}
  - trim: {name: a, size: 8M}
  - free: a
"""


class Counting(miniatures.Wrapped):
    created = 0

    def __init__(self, inner) -> None:
        super().__init__(inner)
        type(self).created += 1


def _case(tmp_path: Path, text: str):
    (case,) = load_file(write_spec(tmp_path, "c.yaml", text))
    return case, case.combinations()[0]


@pytest.mark.treeless
def test_a_diff_cell_is_the_verdict_run_gives_even_when_the_full_trace_crashes(tmp_path):
    case, ps = _case(tmp_path, FAILS_THEN_TRIMS)
    opened = {"reference": ReferenceBackend(), "crashy": miniatures.backend("mini-crash-on-trim")}
    judges = {n: Judge.none(n) for n in opened}
    row = matrix.build_row(case, ps, opened, judges)
    run_says = {n: judges[n].case(case, ps, b) for n, b in opened.items()}
    assert {n: c.status for n, c in row.cells.items()} == {"reference": "fail", "crashy": "fail"}
    assert {n: c.message for n, c in row.cells.items()} == {n: v.message
                                                           for n, v in run_says.items()}
    (d,) = row.differences  # the rest of the trace still counts: one side died in the trim
    assert d.what == "crash"


@pytest.mark.treeless
def test_a_failing_case_whose_trace_already_differs_runs_once(tmp_path):
    """The run that judges a cell is also the trace compared, when its prefix differs."""
    case, ps = _case(tmp_path, FAILS_THEN_TRIMS.replace("{offset: 0}", "{offset: 1G - 32M}"))
    Counting.created = 0
    bottom_up = miniatures.MiniatureBackend(
        "bottom-up", lambda a: Counting(miniatures.BottomUp(a)))
    opened = {"reference": ReferenceBackend(), "bottom-up": bottom_up}
    row = matrix.build_row(case, ps, opened, {n: Judge.none(n) for n in opened})
    assert row.cells["bottom-up"].status == "fail" and row.differences[0].step == "1"
    assert Counting.created == 1 and row.runs_to_end == 0


@pytest.mark.treeless
def test_traces_that_agree_up_to_a_failure_are_compared_to_the_end(tmp_path):
    case, ps = _case(tmp_path, FAILS_THEN_TRIMS)
    Counting.created = 0
    counted = miniatures.MiniatureBackend("counted", Counting)
    opened = {"reference": ReferenceBackend(), "counted": counted}
    row = matrix.build_row(case, ps, opened, {n: Judge.none(n) for n in opened})
    assert not row.differences and row.all_fail
    assert Counting.created == 2  # the judged run stopped at step 1: once more, to the end
    assert row.runs_to_end == 2  # the reference's too


@pytest.mark.treeless
def test_pytest_diff_judges_a_row_as_the_diff_verb_does(tmp_path):
    """The plugin's --diff used to judge the run that went on past the failure: a crash there
    made its expected failure read 'crash' where run and diff say 'fail'."""
    specs = tmp_path / "specs"
    write_spec(specs, "c.yaml", FAILS_THEN_TRIMS)
    for name in ("reference", "mini-crash-on-trim"):
        write_spec(specs / "expectations", f"{name}.yaml",
                   "j.fails-then-trims: claims the bottom\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.pytest_plugin", "-p", "tests.miniatures", "-rx",
                        "--rootdir", str(ROOT), "--specs", str(specs), "--diff",
                        "reference,mini-crash-on-trim", str(specs)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mini-crash-on-trim: claims the bottom (fail: step 1" in r.stdout, r.stdout
    assert "(crash:" not in r.stdout


def _expecting(tmp_path: Path) -> Path:
    """A corpus with one case nobody meets, listed in the file ``other``."""
    specs = tmp_path / "specs"
    write_spec(specs, "c.yaml", FAILS_THEN_TRIMS.replace("layer: core", "cites: "
                                                         "[gpu_buddy_alloc_blocks]\nlayer: core"))
    write_spec(specs / "expectations", "other.yaml", "j.fails-then-trims: claims the bottom\n")
    write_spec(specs, "interactions.yaml", (ROOT / "specs" / "interactions.yaml").read_text())
    return specs


@pytest.mark.treeless
def test_cover_pairs_takes_expect_as_as_run_does(tmp_path, capsys):
    specs = _expecting(tmp_path)
    argv = ["--backend", "reference", "--specs", str(specs), "--expect-as", "other"]
    main(["cover", "--pairs", *argv])
    assert "0 passed, 0 failed, 0 skipped (1 xfail)" in capsys.readouterr().err
    assert main(["run", *argv]) == 0
    assert "(1 xfail)" in capsys.readouterr().out


@pytest.mark.skipif(kernels.locate("7.2") is None,
                    reason="docs reads the documentation of a cached 7.2 tree")
def test_docs_takes_expect_as_as_run_does(tmp_path, capsys):
    specs = _expecting(tmp_path)
    out = tmp_path / "d.json"
    main(["docs", "--backend", "reference", "--specs", str(specs), "--expect-as", "other",
          "--json", str(out)])
    capsys.readouterr()
    (case,) = json.loads(out.read_text())["cases"]
    assert case["outcomes"] == {"reference": "xfail"}
