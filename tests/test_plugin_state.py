"""The pytest plugin keeps what a run holds on that run's config: two runs in one process (an
editor's test runner, a tool calling ``pytest.main``) each read their own spec files and
options, never what the other left."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_spec

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "harness" / "pytest_plugin.py"

CASE = """
id: s.avail
title: avail after one allocation
layer: core
source: {kind: extra, ref: test}
buddy: {size: 16M, chunk_size: 4K}
steps:
  - alloc: {as: a, size: 4M}
    expect: {avail: AVAIL}
"""

# Three pytest.main calls in one process: the case passes; then, edited to fail and listed in
# the file `other`, it is an expected failure by --expect-as other and a failure by none.
RUNS = """
import json, pathlib, sys, pytest
specs, root, right, wrong = sys.argv[1:]
case = pathlib.Path(specs, "c.yaml")
base = ["-q", "-p", "no:cacheprovider", "-p", "harness.pytest_plugin", "--rootdir", root,
        "--specs", specs, specs]
codes = [int(pytest.main(base))]
case.write_text(case.read_text().replace(right, wrong))
codes.append(int(pytest.main([*base, "--expect-as", "other"])))
codes.append(int(pytest.main([*base, "--expect-as", "none"])))
print("CODES", json.dumps(codes))
"""


def test_runs_in_one_process_read_their_own_specs_and_options(tmp_path):
    specs = tmp_path / "specs"
    write_spec(specs, "c.yaml", CASE.replace("AVAIL", "12M"))
    write_spec(specs / "expectations", "other.yaml", "s.avail: recorded as failing\n")
    r = subprocess.run([sys.executable, "-c", RUNS, str(specs), str(ROOT), "avail: 12M",
                        "avail: 11M"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("CODES ")), None)
    assert line is not None, r.stdout[-3000:] + r.stderr[-3000:]
    # 0: passed; 0: xfailed (a case read before the edit would XPASS(strict): 1); 1: failed.
    assert json.loads(line.split(" ", 1)[1]) == [0, 0, 1], r.stdout[-3000:]
    assert "1 xfailed" in r.stdout and "expected avail 11M, got 12M" in r.stdout


def test_the_plugin_module_holds_no_state_of_a_run():
    """No module-level list, dict or set, and no memo (functools.cache): what a run keeps is
    on its config's stash."""
    tree = ast.parse(PLUGIN.read_text(encoding="utf-8"))
    mutable = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    wrong = []
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, mutable) or (isinstance(value, ast.Call) and ast.unparse(
                value.func) in ("dict", "list", "set", "collections.defaultdict")):
            wrong.append(f"line {node.lineno}: {ast.unparse(node)[:60]}")
        if isinstance(node, ast.FunctionDef):
            wrong += [f"line {node.lineno}: @{ast.unparse(d)} {node.name}"
                      for d in node.decorator_list if "cache" in ast.unparse(d)]
    assert wrong == []
