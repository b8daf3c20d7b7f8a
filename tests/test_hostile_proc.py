"""Hostile processes and caches: what the C prints, a damaged build cache, signals, killed
runs and concurrent fetches.

- Output of the C on stdout or stderr is the case's output, never a reply of the worker
  protocol (native and Rust workers).
- A damaged cached artifact (worker, object, Rust stage, tree record) is rebuilt or named,
  never reported as a crash of the allocator.
- SIGINT and SIGTERM end every child process group, write what has finished (JSON
  included) and exit 130/143; a process the C forks does not outlive the run.
- Fetches are locked and published by a rename; leftovers of killed runs are swept.

Tests that need a kernel tree skip without one, as the native tests do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.backends.native.testing import why_unavailable
from harness.cli import main
from tests.scratch_tree import copy_tree

ROOT = Path(__file__).resolve().parent.parent
NATIVE = pytest.mark.skipif(why_unavailable() is not None, reason=why_unavailable() or "")
RUST = pytest.mark.skipif(shutil.which("rustc") is None or shutil.which("bindgen") is None,
                          reason="rustc and bindgen are needed for the Rust backend")

INIT = "int gpu_buddy_init(struct gpu_buddy *mm, u64 size, u64 chunk_size)\n{\n"
CHATTY = (INIT + '\tprintf("init says %llu", (unsigned long long)size);\n'
          '\tfprintf(stderr, " and on stderr\\n");\n')


def _chatty_tree(tmp_path: Path) -> Path:
    """A tree whose gpu_buddy_init prints on stdout (no newline, buffered) and stderr."""
    tree = copy_tree(tmp_path)
    c = tree / "drivers/gpu/buddy.c"
    text = c.read_text()
    assert text.count(INIT) == 1
    c.write_text(text.replace(INIT, CHATTY))
    return tree


def _two_cases(tmp_path: Path, layer: str) -> Path:
    d = tmp_path / "specs"
    d.mkdir()
    for i, size in enumerate(("1M", "2M")):
        (d / f"c{i}.yaml").write_text(f"""\
id: chatty.c{i}
title: an allocator whose C prints
source: {{kind: extra, ref: tests/test_hostile_proc.py}}
layer: {layer}
buddy: {{size: {size}, chunk_size: 4K}}
steps:
  - alloc: {{as: a, size: 4K}}
  - free: a
  - check: {{avail: {size}}}
""")
    return d


def _run_json(tmp_path: Path, specs: Path, backend: str) -> dict:
    out = tmp_path / "r.json"
    code = main(["run", "--specs", str(specs), "--backend", backend, "--expect-as", "none",
                 "-j", "1", "--json", str(out)])
    data = json.loads(out.read_text())
    assert code == 0, data
    return data


# -- 6: the worker protocol has descriptors of its own --------------------------------------

@NATIVE
def test_printf_in_the_c_is_the_case_s_output_not_a_reply(tmp_path):
    tree = _chatty_tree(tmp_path)
    data = _run_json(tmp_path, _two_cases(tmp_path, "core"), f"native@{tree}")
    got = {r["case"]: (r["outcome"], r.get("output", "")) for r in data["results"]}
    assert got == {"chatty.c0": ("pass", "init says 1048576 and on stderr\n"),
                   "chatty.c1": ("pass", "init says 2097152 and on stderr\n")}


@NATIVE
@RUST
def test_printf_in_the_c_under_the_rust_binding_is_the_case_s_output(tmp_path):
    tree = _chatty_tree(tmp_path)
    data = _run_json(tmp_path, _two_cases(tmp_path, "binding"), f"rust@{tree}")
    cases = [r for r in data["results"] if r["case"].startswith("chatty.")]
    assert [(r["case"], r["outcome"]) for r in cases] == [("chatty.c0", "pass"),
                                                          ("chatty.c1", "pass")]
    assert "init says 1048576" in cases[0]["output"]
    assert "init says 2097152" in cases[1]["output"]
    assert "2097152" not in cases[0]["output"]

