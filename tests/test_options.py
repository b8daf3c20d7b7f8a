"""Hostile arguments and runaway cases: one line, the right exit code, within seconds.

The examples here are the ones a careless user met first; tests/test_hostile.py
drives every verb with arbitrary values and files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from harness.backends.reference import ReferenceBackend
from harness.engine import run_case
from tests.helpers import load_one, write_spec
from tests.test_cli import GOOD, harness

# A pytest run of its own, not an xdist worker's child.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
MALFORMED = Path(__file__).parent / "malformed"
# Said when no Linux 7.2 tree is cached to check quotes against: a notice, not a complaint.
NOTICE = "quote check skipped:"
ONE_LINE = re.compile(r"buddy-harness [a-z ]+: \S.*")

SLOW = """
id: c.slow
title: a hundred thousand checks, within the operation limit
source: {kind: extra, ref: test}
buddy: {size: 1G, chunk_size: 4K}
steps:
  - repeat:
      count: 100000
      steps: [{check: {avail: 1G}}]
"""


@pytest.mark.parametrize("args, code", [
    (["check", str(MALFORMED / "limits-params-product-10-pow-12.yaml")], 2),
    (["run", "--specs", str(MALFORMED / "limits-repeat-count-10-pow-9.yaml")], 2),
    (["run", "--specs", str(MALFORMED / "limits-nested-repeats-1000-cubed.yaml")], 2),
    (["run", "--json", "/nonexistent/dir/out.json"], 2),
    (["run", "--backend", "native@7.2", "--timeout", "-1"], 2),
    (["fuzz", "--timeout", "0"], 2),
    (["run", "-k", "zzzz"], 5),
])
def test_each_example_is_one_line_and_its_exit_code(args, code):
    # How long each takes is a figure (README), not asserted here.
    r = harness(*args)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(NOTICE)]
    if args[0] == "check":  # the error, then the count of errors
        assert len(lines) == 2 and lines[1] == "1 error(s) in 1 file(s)"
    else:
        assert len(lines) == 1, lines
    assert re.fullmatch(r"\S+:\d+:\d+: .*", lines[0]) or ONE_LINE.fullmatch(lines[0])


def test_results_file_is_checked_before_the_run(tmp_path):
    write_spec(tmp_path / "specs", "good.yaml", GOOD)
    (tmp_path / "ro").write_text("")  # a file where a directory should be
    r = harness("run", "--specs", str(tmp_path / "specs"), "--json",
                str(tmp_path / "ro" / "out.json"))
    assert r.returncode == 2 and r.stdout == ""  # nothing ran
    assert "no such directory" in r.stderr
    out = tmp_path / "out.json"
    r = harness("run", "--specs", str(tmp_path / "specs"), "--json", str(out))
    assert r.returncode == 0 and json.loads(out.read_text())["summary"]["pass"] == 2


@pytest.mark.parametrize("args, words", [
    (["diff", "--backend", "reference", "--backend", "x@", "--json", "a"], "unknown backend"),
    (["diff", "--json", "same.json", "--html", "./same.json"], "both write"),
    (["fuzz", "--jobs", "0"], "not a positive whole number"),
    (["fuzz", "--examples", "1.5"], "not a whole number"),
    (["fuzz", "--emit", "/dev/null/x"], "not a directory"),
    (["bench", "--pairs", "-3"], "not a positive whole number"),
    (["kernel", "fetch", "../etc"], "not a kernel version"),
    (["generate", "--out", "/dev/null"], "not a directory"),
    (["run", "--case-budget", "inf"], "not a positive number of seconds"),
    (["run", "--backend", "native@"], "names no version or path"),
])
def test_bad_options_of_every_verb(args, words, tmp_path):
    r = harness(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and words in r.stderr, r.stderr
    assert not (tmp_path / "a").exists()


def test_backend_families_are_judged_by_one_function():
    from harness.backends.registry import name_problem

    for good in ("reference", "native", "native@7.2", "native@/src/linux", "rust", "rust@7.2",
                 "rust@../linux", "native@my-patch"):
        assert name_problem(good) is None
    for bad in ("", "Reference", "native@", "rust@", "reference@7.2", "c@7.2"):
        assert name_problem(bad), bad


def test_empty_selection_exits_5_from_run_diff_and_check(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    r = harness("run", "--specs", str(specs))
    assert r.returncode == 5 and "no case found" in r.stderr
    r = harness("check", str(specs))
    assert r.returncode == 5 and "nothing checked" in r.stderr
    write_spec(specs, "good.yaml", GOOD)
    r = harness("diff", "--specs", str(specs), "--backend", "reference", "--backend",
                "native@/nonexistent", "-k", "zzzz")
    assert r.returncode == 5 and "no case selected by -k 'zzzz'" in r.stderr


def test_a_case_past_its_budget_is_a_timeout_crash(tmp_path):
    case = load_one(tmp_path, SLOW)
    out = run_case(case, case.combinations()[0], ReferenceBackend(), budget=0.05)
    assert out.status == "crash" and out.trace.crash_kind == "timeout"
    assert out.message.startswith("timeout: the case ran past its budget of 0.05 s")
    assert run_case(case, case.combinations()[0], ReferenceBackend()).status == "pass"


def test_the_run_goes_on_after_a_timeout(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "slow.yaml", SLOW)
    write_spec(specs, "good.yaml", GOOD)
    r = harness("run", "--specs", str(specs), "--case-budget", "0.05")
    assert r.returncode == 1, r.stderr
    assert re.search(r"c\.slow .* crash  timeout: the case ran past its budget", r.stdout)
    assert "2 passed, 1 failed" in r.stdout


def test_pytest_options_are_checked_too(tmp_path):
    import subprocess
    import sys

    from tests.test_cli import ROOT

    for args, words in ((["--backend", "nope"], "unknown backend 'nope'"),
                        (["--case-budget", "-1"], "not a positive number"),
                        (["--diff", "reference"], "not two backend names"),
                        (["--diff", "reference,reference", "--backend", "reference"],
                         "drop --backend")):
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "generated" / "test_extra__u64.py"), *args],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, env=CLEAN_ENV)
        assert r.returncode == 4, r.stdout + r.stderr  # pytest's usage error
        assert r.stderr.strip().splitlines() == [f"ERROR: {r.stderr.strip()[7:]}"], r.stderr
        assert words in r.stderr
