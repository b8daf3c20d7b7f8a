"""The command line: exit codes, tables, JSON, and spec errors as one line each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.trees import kernels
from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
id: c.good
title: a 16M block at the top
source: {kind: extra, ref: test}
params: {chunk: [4K, 8K]}
buddy: {base_offset: 0, size: 1G, chunk_size: chunk}
steps:
  - alloc: {as: a, size: 16M, min_block_size: 16M}
    expect: {blocks: [{offset: 1G - 16M}]}
"""

WRONG = """
id: c.wrong
title: claims the bottom
source: {kind: extra, ref: test}
buddy: {base_offset: 0, size: 1G, chunk_size: 4K}
steps:
  - alloc: {as: a, size: 16M, min_block_size: 16M}
    expect: {blocks: [{offset: 0}]}
"""


# `run` without --backend adds every cached kernel: these tests see an empty cache.
EMPTY_CACHE = tempfile.mkdtemp(prefix="buddy-harness-test-cache-")


def harness(*args: str, cwd: Path = ROOT, cache: str = EMPTY_CACHE) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BUDDY_HARNESS_KERNEL_SRC"}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, timeout=300,
                          capture_output=True, text=True, env=dict(env, XDG_CACHE_HOME=cache))


def test_run_without_backend_adds_every_cached_kernel(tmp_path):
    write_spec(tmp_path / "specs", "good.yaml", GOOD)
    tree = tmp_path / "cache" / "buddy-harness" / "kernels" / "9.9"
    tree.mkdir(parents=True)
    (tree / "buddy-harness.json").write_text(json.dumps({"package": "9.9.1-1",
                                                         "layout": kernels.LAYOUT}))
    r = harness("run", "--specs", str(tmp_path / "specs"), cache=str(tmp_path / "cache"))
    # The fake tree has no allocator: the run names it and says what is wrong.
    assert r.returncode == 2, r.stdout + r.stderr
    assert "kernels/9.9: this kernel tree has no buddy allocator" in r.stderr


def test_run_passes_and_writes_json(tmp_path):
    write_spec(tmp_path / "specs", "good.yaml", GOOD)
    out = tmp_path / "r.json"
    r = harness("run", "--specs", str(tmp_path / "specs"), "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed, 0 failed" in r.stdout
    data = json.loads(out.read_text())
    assert {x["params"] for x in data["results"]} == {"chunk=4K", "chunk=8K"}
    assert set(data["results"][0]) == {"case", "params", "backend", "outcome", "message"}
    assert data["summary"]["pass"] == 2


def test_run_fails_with_exit_1(tmp_path):
    write_spec(tmp_path / "specs", "wrong.yaml", WRONG)
    r = harness("run", "--specs", str(tmp_path / "specs"))
    assert r.returncode == 1
    assert "c.wrong" in r.stdout and " fail " in r.stdout


def test_expectations_make_a_strict_expected_failure(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "wrong.yaml", WRONG)
    write_spec(specs, "expectations/reference.yaml", "c.wrong: the block lands at the top\n")
    r = harness("run", "--specs", str(specs))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "xfail" in r.stdout
    # A listed case that passes is an unexpected outcome.
    write_spec(specs, "good.yaml", GOOD)
    write_spec(specs, "expectations/reference.yaml", "c.good[chunk=4K]: listed wrongly\n"
               "c.wrong: the block lands at the top\n")
    r = harness("run", "--specs", str(specs))
    assert r.returncode == 1 and "xpass" in r.stdout


def test_stale_expectation_entry_fails(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    write_spec(specs, "expectations/reference.yaml", "c.gone: no such case\n")
    r = harness("run", "--specs", str(specs))
    assert r.returncode == 1 and "'c.gone' names no loaded case" in r.stderr


def test_spec_error_is_one_line_exit_2_and_other_files_still_run(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    write_spec(specs, "bad.yaml", GOOD.replace("c.good", "c.bad").replace("alloc:", "alocate:"))
    r = harness("run", "--specs", str(specs))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err = [line for line in r.stderr.splitlines() if "bad.yaml" in line]
    assert len(err) == 1 and err[0].startswith(f"{specs / 'bad.yaml'}:7:")
    assert "2 passed" in r.stdout


def test_check_reports_ok_and_errors(tmp_path):
    good = write_spec(tmp_path, "good.yaml", GOOD)
    r = harness("check", str(good))
    assert r.returncode == 0 and "1 case(s), 2 item(s): ok" in r.stdout
    r = harness("check", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_keyword_filter_and_unknown_backend(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "good.yaml", GOOD)
    write_spec(specs, "wrong.yaml", WRONG)
    r = harness("run", "--specs", str(specs), "-k", "chunk=8K")
    assert r.returncode == 0 and "1 passed" in r.stdout
    r = harness("run", "--specs", str(specs), "--backend", "nonesuch")
    assert r.returncode == 2 and "unknown backend 'nonesuch'" in r.stderr
    assert "Traceback" not in r.stderr


def test_no_verb_and_missing_specs_dir(tmp_path):
    assert harness().returncode == 2
    r = harness("run", cwd=tmp_path)
    assert r.returncode == 2 and "specs: no such directory" in r.stderr


def test_every_malformed_file_is_one_line_and_exit_2_from_run_and_check(tmp_path, monkeypatch,
                                                                       capsys):
    """The whole malformed corpus next to a good file, through both verbs in one go."""
    from harness.cli import main
    from tests.test_loader import MALFORMED, MALFORMED_FILES, _expected

    specs = tmp_path / "specs"
    specs.mkdir()
    for name in MALFORMED_FILES:
        (specs / name).write_bytes((MALFORMED / name).read_bytes())
    write_spec(specs, "zz-good.yaml", GOOD)
    monkeypatch.chdir(specs)
    want = {f"{name}:{_expected(specs / name)}" for name in MALFORMED_FILES}
    for argv in (["check", "."], ["run", "--specs", "."]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        lines = [line.removeprefix("./") for line in err.splitlines()]
        assert "Traceback" not in err
        # Cross-file errors (a duplicate id) name the later file; every file has its line.
        assert want <= set(lines), sorted(want - set(lines))[:3]
        if argv[0] == "run":
            # the good file still ran
                assert "c.good  chunk=8K" in out and " 0 failed" in out, err[-1500:]


def test_documented_example_case_runs_and_passes(tmp_path):
    text = (ROOT / "docs" / "writing-cases.md").read_text()
    case = text.split("```yaml\nid: ", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text("id: " + case)
    r = harness("run", "--specs", str(tmp_path))
    assert r.returncode == 0 and "4 passed, 0 failed" in r.stdout, r.stdout + r.stderr
