"""A backend returning what no allocator may return fails cases with a message, in every
verb: never a traceback, the run goes on and its JSON is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.backends.reference import ReferenceBackend
from harness.cli import main
from harness.divergence import fuzz
from tests import malformed_results, miniatures
from tests.test_cli import ROOT

NAMES = sorted(malformed_results.MALFORMED)
# What the verdict of some case must say for each kind.
SAYS = {
    "bad-misaligned": "raw offset is not a multiple of its size",
    "bad-overlapping": "overlaps a live block",
    "bad-outside": "lies outside the managed range",
    "bad-order": "size is not chunk_size << order",
    "bad-negative-avail": "invariant: avail -1008M is not a u64",
    "bad-huge-avail": "is not a u64 byte count",
    "bad-foreign-handle": "the backend raised KeyError",
    "bad-exception": "the backend raised RuntimeError: free exploded",
}
CORPUS = str(ROOT / "specs")


@pytest.fixture
def registered():
    with miniatures.registered(malformed_results.MALFORMED):
        yield


@pytest.mark.parametrize("name", NAMES)
def test_run_reports_each_kind_as_a_fail(name, registered, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--specs", CORPUS, "--backend", name, "--expect-as", "reference",
                 "-q", "--json", str(out)])
    assert code == 1
    results = json.loads(out.read_text())["results"]
    assert len(results) == len([r for r in results if r["backend"] == name]) > 500
    fails = [r for r in results if r["outcome"] == "fail"]
    assert any(SAYS[name] in r["message"] for r in fails), fails[:3]
    assert not [r for r in results if r["outcome"] in ("crash", "error")]
    assert "Traceback" not in capsys.readouterr().err


def test_diff_reports_each_kind(registered, tmp_path, capsys):
    out = tmp_path / "d.json"
    args = ["diff", "--specs", CORPUS, "--backend", "reference"]
    for name in NAMES:
        args += ["--backend", name]
    assert main([*args, "--json", str(out)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    rows = json.loads(out.read_text())["rows"]
    for name in NAMES:
        cells = [r["cells"][name] for r in rows]
        assert any(c["status"] == "fail" and SAYS[name] in c["message"] for c in cells), name
        assert any(name in d["backends"] for r in rows for d in r["differences"]), name


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_reports_each_kind(name):
    finding, _ = fuzz.search(ReferenceBackend(), malformed_results.backend(name),
                             ("reference", name), seed=5, examples=300)
    assert finding is not None
    assert finding.divergence.describe(("reference", name))


def test_pytest_reports_each_kind():
    args = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
            "-p", "tests.malformed_results", "generated/test_rustdoc__module_examples.py",
            "generated/test_kernel_doc__block_trim.py"]
    for name in NAMES:
        args += ["--backend", name]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=os.environ | {"COLUMNS": "1000"})  # whole FAILED lines
    assert r.returncode == 1, r.stdout[-2000:]
    assert "Traceback" not in r.stdout and "INTERNALERROR" not in r.stdout + r.stderr
    failed = [line for line in r.stdout.splitlines() if line.startswith("FAILED")]
    for name in NAMES:
        assert any(f"{name}]" in line and SAYS[name] in line for line in failed), name


@pytest.mark.parametrize("name", ["bad-exception", "bad-misaligned"])
def test_fuzz_verb_reports_and_emits(name, registered, tmp_path, capsys):
    assert main(["fuzz", "--backend", "reference", "--backend", name, "--examples", "200",
                 "--seed", "5", "--emit", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "DIVERGENCE" in out + err and "Traceback" not in out + err
    assert list(tmp_path.glob("*.yaml"))  # the shrunk program, as a case
