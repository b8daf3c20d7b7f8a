"""The lint suite of rust@ trees: clippy, rustfmt and rustdoc over buddy.rs, as the tree's own
build runs them (harness/backends/rust/lints.py).

Runs where the 7.2 tree is cached and rustc, bindgen, clippy-driver and rustfmt are on PATH
(`tox -e rust`); the v12.1 posting is made from the review thread, as tests/test_rust.py
makes it. Caches of the lint results go to a scratch directory, so the tool runs can be
counted.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.backends.rust import lints
from harness.backends.rust.build import BINDING
from harness.trees import kernels, resolve_tree

ROOT = Path(__file__).resolve().parents[1]
TREE = kernels.locate("7.2")
SEED = next((p / "shared/seed/review-v12.1-gpu-buddy-bindings.txt" for p in ROOT.parents
             if (p / "shared/seed/review-v12.1-gpu-buddy-bindings.txt").is_file()), None)
SKIP = ("no cached 7.2 tree (buddy-harness kernel fetch 7.2)" if TREE is None
        else next((f"{t} not on PATH" for t in ("rustc", "bindgen", "clippy-driver", "rustfmt")
                   if shutil.which(t) is None), None))
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Lint results cached under tmp_path; returns the list of tool runs made."""
    monkeypatch.setattr(lints, "lint_cache", lambda: tmp_path / "lint-cache")
    calls: list[list[str]] = []
    real = lints.invoke

    def invoke(cmd, **kw):
        calls.append(cmd)
        return real(cmd, **kw)

    monkeypatch.setattr(lints, "invoke", invoke)
    return calls


def _lint(name: str) -> dict:
    from harness.backends.rust import open_backend

    b = open_backend(name, log=lambda _m: None)
    try:
        return {o.case_id: o for s in b.suites() if s.kind == "lint" for o in s.outcomes()}
    finally:
        b.close()


def _v12_1() -> str:
    from harness.cli import main

    if SEED is None:
        pytest.skip("the v12.1 review thread (shared/seed/) is not beside the repository")
    assert main(["kernel", "patch", "v12.1", "--onto", "7.2", str(SEED)]) == 0
    return "rust@v12.1"


def test_7_2_is_clean_and_a_second_run_invokes_no_tool(counted):
    outs = _lint("rust@7.2")
    assert list(outs) == ["lint.clippy", "lint.rustfmt", "lint.rustdoc"]
    assert all(o.status == "pass" for o in outs.values()), outs
    assert "30 lint flags of the tree's Makefile and rust/Makefile" in outs["lint.clippy"].message
    assert sorted(c[0].rsplit("/", 1)[-1] for c in counted) == ["clippy-driver", "rustdoc",
                                                                 "rustfmt"]
    counted.clear()
    again = _lint("rust@7.2")
    assert counted == [], "a warm run must come from the cache"
    assert {k: (o.status, o.message) for k, o in again.items()} == {
        k: (o.status, o.message) for k, o in outs.items()}


def test_v12_1_shows_the_review_s_clippy_warnings_with_file_line_and_lint(counted, capsys):
    outs = _lint(_v12_1())
    clippy = outs["lint.clippy"]
    assert clippy.status == "fail"
    found = re.findall(r"(rust/kernel/gpu/buddy\.rs):(\d+):\d+: warning: (clippy::\w+)",
                       clippy.message)
    assert [(int(line), lint) for _, line, lint in found] == [
        (261, "clippy::unnecessary_cast"), (262, "clippy::unnecessary_cast"),
        (516, "clippy::unnecessary_safety_comment")], clippy.message
    assert clippy.message.startswith("3 findings") and clippy.line == 261
    fmt = outs["lint.rustfmt"]
    assert fmt.status == "fail" and "whitespace only" in fmt.message, fmt.message
    assert f"{BINDING}:216" in fmt.message and fmt.line == 216
    assert outs["lint.rustdoc"].status == "pass", outs["lint.rustdoc"].message


def test_the_lint_flags_are_the_tree_s_own(counted, tmp_path):
    """A copy of v12.1 whose Makefile allows clippy::unnecessary_cast keeps only the safety
    comment warning: the flags come from the tree, and the cache tells the two apart."""
    _v12_1()
    src = resolve_tree("rust@v12.1", log=lambda _m: None).root
    copy = tmp_path / "linux"
    shutil.copytree(src, copy, symlinks=True)
    mk = copy / "Makefile"
    text = mk.read_text()
    mk.write_text(text.replace("-Wclippy::unnecessary_safety_doc \\",
                               "-Wclippy::unnecessary_safety_doc -Aclippy::unnecessary_cast \\", 1))
    assert mk.read_text() != text
    clippy = _lint(f"rust@{copy}")["lint.clippy"]
    assert clippy.message.startswith("1 finding "), clippy.message
    assert "clippy::unnecessary_safety_comment" in clippy.message
    assert "unnecessary_cast" not in clippy.message


def test_a_planted_unused_import_is_a_clippy_finding_at_its_line(counted, tmp_path):
    """rustc's own lints reach buddy.rs as in a kernel build: the stand-in crate spares only
    its other modules the unused-code lints."""
    tree = _tree_with(tmp_path, lambda t: t.replace(
        "use crate::{\n", "use core::fmt::Write as _;\nuse crate::{\n", 1))
    clippy = _lint(f"rust@{tree.root}")["lint.clippy"]
    assert clippy.status == "fail"
    assert clippy.message.endswith(f"{BINDING}:220:5: warning: unused_imports: unused import: "
                                   "`core::fmt::Write`"), clippy.message
    assert clippy.line == 220


def _tree_with(tmp_path: Path, edit=None, drop_config: bool = False):
    assert TREE is not None
    dest = tmp_path / "linux"
    shutil.copytree(TREE, dest, symlinks=True)
    if edit is not None:
        p = dest / BINDING
        new = edit(p.read_text())
        assert new != p.read_text(), "the planted change did not apply"
        p.write_text(new)
    if drop_config:
        (dest / ".rustfmt.toml").unlink()
    return resolve_tree(f"rust@{dest}", log=lambda _m: None)


def test_rustfmt_names_each_place_and_whether_only_whitespace_differs(counted, tmp_path):
    # Imports out of order: rustfmt sorts them, which is more than whitespace.
    tree = _tree_with(tmp_path, lambda t: t.replace("    bindings,\n    clist_create,\n",
                                                    "    clist_create,\n    bindings,\n", 1))
    r = lints._rustfmt(tree)
    assert r.status == "fail", r.message
    assert "with the tree's .rustfmt.toml: 1 place to reformat, some beyond whitespace" \
        in r.message, r.message
    assert re.search(rf"{re.escape(BINDING)}:\d+$", r.message) and r.line > 0


def test_a_tree_without_rustfmt_toml_is_checked_with_rustfmt_s_defaults(counted, tmp_path):
    r = lints._rustfmt(_tree_with(tmp_path, drop_config=True))
    assert r.status == "pass", r.message
    assert "rustfmt's defaults (the tree has no .rustfmt.toml" in r.message


def test_missing_tools_skip_their_items_with_one_line(counted, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setenv("CLIPPY_DRIVER", "no-such-clippy-driver")
    monkeypatch.setenv("RUSTFMT", "no-such-rustfmt")
    outs = _lint("rust@7.2")
    for item, tool in (("lint.clippy", "clippy"), ("lint.rustfmt", "rustfmt")):
        o = outs[item]
        assert o.status == "skip" and "\n" not in o.message, o.message
        assert o.message.startswith(f"no-such-{tool}") and f"component add {tool}" in o.message
    assert outs["lint.rustdoc"].status == "pass"
    assert main(["run", "--backend", "rust@7.2", "-k", "lint.", "--specs",
                 str(ROOT / "specs")]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed, 2 skipped" in out, out[-800:]
