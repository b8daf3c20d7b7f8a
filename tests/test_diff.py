"""``buddy-harness diff`` (matrix, reports, exit codes) and pytest's ``--diff A,B``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests import miniatures
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent

CASES = """
cases:
  - id: d.top
    title: a 16M block lands at the top
    source: {kind: extra, ref: test}
    layer: core
    buddy: {size: 1G, chunk_size: 4K}
    steps:
      - alloc: {as: a, size: 16M, min_block_size: 16M}
        expect: {blocks: [{offset: 1G - 16M}]}
      - free: a
        expect: {avail: 1G}
  - id: d.claim-nobody-meets
    title: claims the bottom
    source: {kind: extra, ref: test}
    layer: core
    buddy: {size: 1G, chunk_size: 4K}
    steps:
      - alloc: {as: a, size: 16M, min_block_size: 16M}
        expect: {blocks: [{offset: 0}]}
"""


def _diff(tmp_path: Path, *backends: str) -> tuple[int, dict, str, str]:
    specs = tmp_path / "specs"
    write_spec(specs, "d.yaml", CASES)
    md, js, html = tmp_path / "r.md", tmp_path / "r.json", tmp_path / "r.html"
    args = ["diff", "--specs", str(specs)]
    for b in backends:
        args += ["--backend", b]
    rc = main([*args, "--markdown", str(md), "--json", str(js), "--html", str(html)])
    return rc, json.loads(js.read_text()), md.read_text(), html.read_text()


@pytest.mark.treeless
def test_agreeing_backends_exit_0_and_name_claims_nobody_meets(tmp_path, capsys):
    with miniatures.registered({"copy": miniatures.Wrapped}):
        rc, data, md, html = _diff(tmp_path, "reference", "copy")
    assert rc == 0, capsys.readouterr()
    assert data["summary"]["disagree"] == []
    assert data["summary"]["all_fail"] == ["d.claim-nobody-meets"]
    assert "Documented claims no backend meets" in md and "d.claim-nobody-meets" in md
    assert html.lower().startswith("<!doctype html>") and "<script src" not in html
    assert "http://" not in html and "https://" not in html  # one self-contained file


@pytest.mark.treeless
def test_a_divergence_gives_the_first_differing_step_and_exit_1(tmp_path, capsys):
    with miniatures.registered():
        rc, data, md, html = _diff(tmp_path, "reference", "mini-bottom-up")
    assert rc == 1
    row = next(r for r in data["rows"] if r["case"] == "d.top")
    assert row["cells"]["reference"]["status"] == "pass"
    assert row["cells"]["mini-bottom-up"]["status"] == "fail"
    (d,) = row["differences"]
    assert d["step"] == "1" and d["what"] == "blocks"
    assert d["values"]["reference"] == "[{offset: 1008M, order: 12, size: 16M}]"
    assert d["values"]["mini-bottom-up"] == "[{offset: 0, order: 12, size: 16M}]"
    assert set(data["summary"]["unexpected"]) == {"d.top", "d.claim-nobody-meets"}
    assert "d.top" in md and "1008M" in md and "d.top" in html
    out = capsys.readouterr().out
    assert "d.top" in out


@pytest.mark.treeless
def test_fewer_than_two_backends_is_a_usage_error(capsys):
    assert main(["diff", "--backend", "reference"]) == 2
    assert "at least two" in capsys.readouterr().err


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.miniatures", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.treeless
def test_pytest_diff_fails_on_the_first_differing_step():
    r = _pytest("generated/test_rustdoc__module_examples.py", "--diff", "reference,mini-bottom-up")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "differs" in r.stdout and "mini-bottom-up" in r.stdout


@pytest.mark.treeless
def test_pytest_diff_passes_for_agreeing_backends():
    r = _pytest("generated/test_rustdoc__module_examples.py", "--diff",
                "reference,mini-crash-on-trim")
    assert r.returncode == 0, r.stdout + r.stderr


def test_pytest_diff_skips_what_a_side_lacks_and_expects_recorded_differences():
    from harness.backends.native import testing

    if "native@6.1" not in testing.available_trees():
        pytest.skip("native@6.1 is not cached")
    # 6.1 lacks CONTIGUOUS (skips) and refuses sizes that are not a multiple of
    # min_block_size (a difference specs/expectations/native@6.1.yaml records).
    r = _pytest("generated/test_rustdoc__module_examples.py",
                "generated/test_kernel_doc__alloc_blocks.py", "-rsx", "--diff",
                "reference,native@6.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "native@6.1 (kernel 6.1" in r.stdout and "lacks contiguous" in r.stdout
    assert "size-rounded-up-to-min-block-size" in r.stdout and "(recorded: native@6.1:" in r.stdout


@pytest.mark.parametrize("version", ["7.2", "6.12", "6.1"])
def test_reference_and_native_disagree_only_where_expected(version, tmp_path, capsys):
    from harness.backends.native import testing

    if f"native@{version}" not in testing.available_trees():
        pytest.skip(f"native@{version} is not cached")
    js = tmp_path / "m.json"
    rc = main(["diff", "--backend", "reference", "--backend", f"native@{version}",
               "--json", str(js)])
    assert rc == 0, capsys.readouterr().out[-3000:]
    summary = json.loads(js.read_text())["summary"]
    assert summary["unexpected"] == []
    if version == "7.2":  # the reference models 7.2: no difference at all
        assert summary["disagree"] == []
