"""A patch touches nothing outside the tree it is applied to, whatever paths it names:
links in the tree (to directories or files outside it), ``..``, ``.``, absolute paths,
empty components and one file named twice.  Applied straight through the patch applier, on a
scratch tree beside a directory that must stay as it was."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.patching import parse
from harness.patching.apply import apply
from harness.patching.parse import PatchError

BUDDY_C = "int a;\nint b;\nint c;\n"


def _scratch(tmp: Path) -> tuple[Path, Path]:
    """A tree with links out of it, and the directory outside that they point at."""
    outside = tmp / "elsewhere"
    (outside / "sub").mkdir(parents=True)
    (outside / "target.c").write_text(BUDDY_C)
    (outside / "sub" / "buddy.c").write_text(BUDDY_C)
    root = tmp / "tree"
    (root / "drivers" / "gpu").mkdir(parents=True)
    (root / "drivers" / "gpu" / "buddy.c").write_text(BUDDY_C)
    os.symlink(outside, root / "drivers" / "gpu" / "evil")
    os.symlink(outside / "target.c", root / "drivers" / "gpu" / "file_link.c")
    os.symlink(root / "drivers", root / "inside")  # a link within the tree: still a link
    return root, outside


def _state(d: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            out[str(p.relative_to(d))] = p.read_bytes() if p.is_file() and not p.is_symlink() \
                else f"link {os.readlink(p)}" if p.is_symlink() else "dir"
    return out


def _diff(path: str, old: str | None, new: str | None) -> str:
    head = [f"diff --git a/{path} b/{path}\n"]
    if old is None:
        head.append("new file mode 100644\n")
    if new is None:
        head.append("deleted file mode 100644\n")
    body = difflib.unified_diff((old or "").splitlines(True), (new or "").splitlines(True),
                                "/dev/null" if old is None else f"a/{path}",
                                "/dev/null" if new is None else f"b/{path}", n=3)
    return "".join(head + list(body))


def _apply(root: Path, text: str) -> str | None:
    try:
        apply(parse.read(text, "p.patch"), root, "p.patch", "7.2")
    except PatchError as e:
        return str(e)
    return None


def test_creating_through_a_directory_link_is_refused(tmp_path):
    root, outside = _scratch(tmp_path)
    before = _state(outside)
    err = _apply(root, _diff("drivers/gpu/evil/new", None, "x\n"))
    assert err is not None and "passes through the link 'drivers/gpu/evil'" in err
    assert _state(outside) == before


def test_deleting_and_changing_through_links_are_refused(tmp_path):
    root, outside = _scratch(tmp_path)
    before = _state(outside)
    assert "link" in _apply(root, _diff("drivers/gpu/evil/sub/buddy.c", BUDDY_C, None))
    assert "link to outside the tree" in _apply(
        root, _diff("drivers/gpu/file_link.c", BUDDY_C, BUDDY_C.replace("b", "B")))
    assert _state(outside) == before


def test_a_link_inside_the_tree_at_the_end_is_replaced_not_written_through(tmp_path):
    root, _ = _scratch(tmp_path)
    os.symlink("buddy.c", root / "drivers" / "gpu" / "alias.c")
    assert _apply(root, _diff("drivers/gpu/alias.c", BUDDY_C, "int z;\n")) is None
    assert (root / "drivers" / "gpu" / "buddy.c").read_text() == BUDDY_C
    assert not (root / "drivers" / "gpu" / "alias.c").is_symlink()


COMPONENTS = ["drivers", "gpu", "evil", "inside", "file_link.c", "buddy.c", "new.c", "sub",
              ".", "..", "", "target.c", "/", "elsewhere"]
path = st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=6).map("/".join)
change = st.tuples(path, st.sampled_from(["create", "modify", "delete"]))


@pytest.mark.parametrize("seed", [0])  # hypothesis below; one fixed example always runs too
def test_fixed_duplicate_spelling_touches_only_the_tree(tmp_path, seed):
    root, outside = _scratch(tmp_path)
    before = _state(outside)
    text = _diff("drivers/gpu/buddy.c", BUDDY_C, BUDDY_C.replace("a", "A")) + \
        _diff("inside/gpu/./buddy.c", BUDDY_C, BUDDY_C.replace("c", "C"))
    _apply(root, text)
    assert _state(outside) == before


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(change, min_size=1, max_size=4))
def test_any_paths_touch_nothing_outside_the_tree(tmp_path_factory, changes):
    tmp = tmp_path_factory.mktemp("patch")
    root, outside = _scratch(tmp)
    before, siblings = _state(outside), sorted(os.listdir(tmp))
    text = ""
    for p, what in changes:
        text += _diff(p, None if what == "create" else BUDDY_C,
                      None if what == "delete" else BUDDY_C.replace("b", "B"))
    try:
        _apply(root, text)
    except (OSError, ValueError) as e:  # pragma: no cover - a failure of its own kind
        pytest.fail(f"{type(e).__name__}: {e}")
    assert _state(outside) == before
    assert sorted(os.listdir(tmp)) == siblings
