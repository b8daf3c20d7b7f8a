"""``kernel patch``: patches (git, mbox, quoted reply) applied onto a cached tree as tree NAME.

Every test builds its own small base tree in a private cache; the last one
applies the real v12.1 posting from ``../shared/seed/`` onto the cached 7.2
tree and is skipped, with the reason, when either is missing.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from harness import expectations
from harness.cli import main
from harness.patching.parse import PatchError
from harness.trees import kernels, resolve_tree
from harness.trees import patched as trees

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "review-v12.1-gpu-buddy-bindings.txt"

LIB = """\
// SPDX-License-Identifier: GPL-2.0
pub mod error;
pub mod fmt;
pub mod fs;
#[cfg(CONFIG_GPU_BUDDY = "y")]
pub mod gpu;
pub mod id_pool;
pub mod list;
"""
GPU = 'pub mod buddy;\n'
BUDDY_RS = "//! the landed binding\npub struct GpuBuddy;\n"
BUDDY_C = """\
int gpu_buddy_init(struct gpu_buddy *mm, u64 size, u64 chunk_size)
{
\tunsigned int i;

\tif (size < chunk_size)
\t\treturn -EINVAL;
\tmm->size = size;
\treturn 0;
}
"""
FILES = {
    "rust/kernel/lib.rs": LIB,
    "rust/kernel/gpu.rs": GPU,
    "rust/kernel/gpu/buddy.rs": BUDDY_RS,
    "drivers/gpu/buddy.c": BUDDY_C,
    "include/linux/gpu_buddy.h": "#define GPU_BUDDY_RANGE_ALLOCATION (1 << 0)\n",
    "tools/include/linux/types.h": "\n",
    "tools/lib/rbtree.c": "\n",
    "rust/kernel/old.rs": "// going away\nfn f() {}\n",
    "rust/kernel/long.rs": "".join(f"const C{i}: u32 = {i};\n" for i in range(40)),
}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache holding a fake fetched 7.2 (7.2.13-1): returns the kernels dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base = kernels.kernels_dir() / "7.2"
    for rel, text in FILES.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    (base / "buddy-harness.json").write_text(json.dumps(
        {"version": "7.2", "package": "7.2.13-1", "layout": kernels.LAYOUT}))
    return kernels.kernels_dir()


def diff(changes: dict[str, tuple[str | None, str | None]]) -> str:
    """A git-style diff of ``{path: (old text or None, new text or None)}``."""
    out = []
    for path, (old, new) in changes.items():
        out.append(f"diff --git a/{path} b/{path}\n")
        if old is None:
            out.append("new file mode 100644\n")
        if new is None:
            out.append("deleted file mode 100644\n")
        out.append("index 1111111..2222222\n")
        body = difflib.unified_diff((old or "").splitlines(True), (new or "").splitlines(True),
                                    "/dev/null" if old is None else f"a/{path}",
                                    "/dev/null" if new is None else f"b/{path}", n=3)
        out += list(body)
    return "".join(out)


def mail(subject: str, patch: str, sha: str = "0" * 40) -> str:
    return (f"From {sha} Mon Sep 17 00:00:00 2001\nFrom: A Developer <dev@example.org>\n"
            f"Date: Mon, 9 Mar 2026 13:53:38 +0000\nSubject: [PATCH] {subject}\n\n"
            f"{subject}.\n\nSigned-off-by: A Developer <dev@example.org>\n---\n"
            f" some/file | 2 +-\n 1 file changed\n\n{patch}-- \n2.43.0\n\n")


def quote(text: str) -> str:
    """Quote like a mail client: '> ' before each line, and the context marker collapsed."""
    return "".join(f"> {ln[1:] if ln.startswith(' ') else ln}".rstrip() + "\n"
                   for ln in text.splitlines())


def patch_cli(tmp_path: Path, name: str, text: str, capsys, onto: str = "7.2"):
    f = tmp_path / f"{name.replace('/', '_')}.patch"
    f.write_text(text)
    rc = main(["kernel", "patch", name, "--onto", onto, str(f)])
    out, err = capsys.readouterr()
    return rc, out, err


def tree_text(cache: Path, name: str, rel: str) -> str:
    return (cache / name / rel).read_text()


def meta(cache: Path, name: str) -> dict:
    return json.loads((cache / name / "buddy-harness.json").read_text())


NEW_C = BUDDY_C.replace("\tmm->size = size;\n", "\tmm->size = size;\n\tmm->avail = size;\n")


# -- the three forms -----------------------------------------------------------------

@pytest.mark.treeless
def test_git_patch_modifies_a_file_and_records_it(cache, tmp_path, capsys):
    text = mail("gpu: buddy: track avail", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}))
    rc, out, err = patch_cli(tmp_path, "avail", text, capsys)
    assert rc == 0, err
    assert tree_text(cache, "avail", "drivers/gpu/buddy.c") == NEW_C
    assert tree_text(cache, "7.2", "drivers/gpu/buddy.c") == BUDDY_C  # the base is untouched
    m = meta(cache, "avail")
    assert (m["base"], m["package"], m["name"]) == ("7.2", "7.2.13-1", "avail")
    assert m["changed"] == {"modified": ["drivers/gpu/buddy.c"]}
    assert m["patch"]["file"] == "avail.patch" and len(m["patch"]["sha256"]) == 64
    assert out.split("\t")[:2] == ["avail", "7.2.13-1"]
    assert "git patch" in err


@pytest.mark.treeless
def test_mbox_applies_each_message_in_order_and_skips_a_repeated_one(cache, tmp_path, capsys):
    step2 = NEW_C.replace("\treturn 0;\n}", "\tmm->clear_avail = 0;\n\treturn 0;\n}")
    one = mail("track avail", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}), "1" * 40)
    two = mail("track clear_avail", diff({"drivers/gpu/buddy.c": (NEW_C, step2)}), "2" * 40)
    rc, _, err = patch_cli(tmp_path, "series", one + two + one, capsys)
    assert rc == 0, err
    assert tree_text(cache, "series", "drivers/gpu/buddy.c") == step2
    assert "mbox, 2 patch message(s) of 3" in err
    assert "message 3" in err and "repeats an earlier message's patch: skipped" in err


@pytest.mark.treeless
def test_quoted_reply_with_comments_and_collapsed_indentation(cache, tmp_path, capsys):
    patch = diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)})
    q = quote(patch).replace("\t", "").splitlines(True)
    at = next(i for i, ln in enumerate(q) if "mm->avail" in ln)
    q.insert(at + 1, "Why not set clear_avail here too?\n>\n")  # a reviewer's words inside
    reply = ("On Mon, 9 Mar 2026, A Developer wrote:\n> Track avail.\n" + "".join(q)
             + "\nOtherwise looks fine.\n")
    rc, _, err = patch_cli(tmp_path, "quoted", reply, capsys)
    assert rc == 0, err
    # Context kept the tree's tabs; the added line is taken exactly as quoted.
    assert tree_text(cache, "quoted", "drivers/gpu/buddy.c") == NEW_C.replace(
        "\tmm->avail", "mm->avail")
    assert "quoted reply at depth 1: 1 quoted copy" in err


@pytest.mark.treeless
def test_quoted_twice_takes_the_first_usable_copy(cache, tmp_path, capsys):
    patch = quote(diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}))
    lines = patch.splitlines(True)
    snipped = "".join(lines[:8]) + "<snip>\n" + "".join(lines[-2:])
    rc, _, err = patch_cli(tmp_path, "twice", "From: r\n" + snipped + "From: r\n" + patch,
                           capsys)
    assert rc == 0, err
    assert "2 quoted copies of the patch, taking copy 2" in err
    assert "copy 1 (line 2) is cut" in err and "snipped" in err
    assert tree_text(cache, "twice", "drivers/gpu/buddy.c") == NEW_C


@pytest.mark.treeless
def test_a_different_quoted_copy_is_reported_not_used(cache, tmp_path, capsys):
    first = quote(diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}))
    other = quote(diff({"drivers/gpu/buddy.c": (BUDDY_C, BUDDY_C.replace("0;", "1;"))}))
    rc, _, err = patch_cli(tmp_path, "two", first + "And later:\n" + other, capsys)
    assert rc == 0, err
    assert "quoted copy 2 (line" in err and "is a different patch: not used" in err
    assert tree_text(cache, "two", "drivers/gpu/buddy.c") == NEW_C


@pytest.mark.treeless
def test_whitespace_collapsed_context_matches_like_patch_l(cache, tmp_path, capsys):
    # A mailer turned the tree's tabs into runs of spaces in the context lines.
    patch = diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)})
    munged = "".join(ln.replace("\t", "    ") if ln.startswith(" ") else ln
                     for ln in patch.splitlines(True))
    assert munged != patch
    rc, _, err = patch_cli(tmp_path, "ws", munged, capsys)
    assert rc == 0, err
    assert tree_text(cache, "ws", "drivers/gpu/buddy.c") == NEW_C


@pytest.mark.treeless
def test_a_plain_unified_diff_without_git_headers(cache, tmp_path, capsys):
    text = "".join(difflib.unified_diff(BUDDY_C.splitlines(True), NEW_C.splitlines(True),
                                        "linux-7.2/drivers/gpu/buddy.c\t2026-03-09",
                                        "linux/drivers/gpu/buddy.c\t2026-03-10"))
    text = text.replace("linux-7.2/", "a/").replace("linux/", "b/")
    rc, _, err = patch_cli(tmp_path, "plain", "Some words first.\n\n" + text, capsys)
    assert rc == 0, err
    assert tree_text(cache, "plain", "drivers/gpu/buddy.c") == NEW_C


@pytest.mark.treeless
def test_a_quoted_hunk_cut_before_its_change_is_not_used(cache, tmp_path, capsys):
    # What is missing could be '-return 0;' '+return 1;' as well as context.
    reply = ("> --- a/drivers/gpu/buddy.c\n> +++ b/drivers/gpu/buddy.c\n"
             "> @@ -7,3 +7,3 @@\n> mm->size = size;\nHmm.\n")
    rc, _, err = patch_cli(tmp_path, "early", reply, capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "no quoted copy of the patch is whole enough to apply" in err
    assert "is cut before any line it adds or removes" in err


# -- how each kind of hunk meets the tree ----------------------------------------------

@pytest.mark.treeless
def test_a_failing_hunk_is_one_line_and_caches_nothing(cache, tmp_path, capsys):
    # Written against a tree whose check reads differently.
    theirs = BUDDY_C.replace("return -EINVAL;", "return -E2BIG;")
    ours = NEW_C.replace("return -EINVAL;", "return -E2BIG;")
    text = diff({"drivers/gpu/buddy.c": (theirs, ours)})
    header = next(ln for ln in text.splitlines() if ln.startswith("@@"))
    rc, out, err = patch_cli(tmp_path, "bad", text, capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"patch does not apply onto 7.2: drivers/gpu/buddy.c hunk #1 {header}: " in err
    assert ("context line 'return -E2BIG;' after 1 matching line(s) at tree line 5, "
            "the tree has 'return -EINVAL;'") in err
    assert "bad.patch:" in err and "(nothing cached)" in err
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".lock")) == ["7.2"]


@pytest.mark.treeless
def test_a_hunk_for_a_missing_file_fails(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "nofile", diff({"mm/nothere.c": ("a\n", "b\n")}), capsys)
    assert rc == 2 and "mm/nothere.c hunk #1 @@ -1 +1 @@: the file is not in the tree" in err


@pytest.mark.treeless
def test_a_new_file_is_added(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "new", diff({"rust/kernel/gpu/extra.rs": (None, "a\nb\n")}),
                           capsys)
    assert rc == 0, err
    assert tree_text(cache, "new", "rust/kernel/gpu/extra.rs") == "a\nb\n"
    assert meta(cache, "new")["changed"] == {"added": ["rust/kernel/gpu/extra.rs"]}


@pytest.mark.treeless
def test_a_created_file_that_exists_is_replaced_and_its_module_twin_dropped(cache, tmp_path,
                                                                          capsys):
    posting = "//! the posting\npub struct GpuBuddy { size: usize }\n"
    rc, _, err = patch_cli(tmp_path, "v1", diff({
        "rust/kernel/gpu/buddy.rs": (None, posting),
        "rust/kernel/gpu/mod.rs": (None, "pub mod buddy;\n")}), capsys)
    assert rc == 0, err
    assert tree_text(cache, "v1", "rust/kernel/gpu/buddy.rs") == posting
    assert not (cache / "v1/rust/kernel/gpu.rs").exists()
    assert (cache / "7.2/rust/kernel/gpu.rs").exists()
    assert meta(cache, "v1")["changed"] == {"added": ["rust/kernel/gpu/mod.rs"],
                                            "replaced": ["rust/kernel/gpu/buddy.rs"],
                                            "dropped": ["rust/kernel/gpu.rs"]}
    assert "replaced by the patch's version" in err
    assert "rust/kernel/gpu.rs: dropped, since the patch brings rust/kernel/gpu/mod.rs" in err


@pytest.mark.treeless
def test_a_created_file_already_there_is_already_present(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "same", diff({"rust/kernel/gpu/buddy.rs": (None, BUDDY_RS)}),
                           capsys)
    assert rc == 0, err
    m = meta(cache, "same")
    assert m["changed"] == {} and m["already_present"] == [
        "rust/kernel/gpu/buddy.rs (the file the patch creates is already there)"]


@pytest.mark.treeless
def test_a_deleted_file_is_removed_and_one_already_gone_is_noted(cache, tmp_path, capsys):
    old = FILES["rust/kernel/old.rs"]
    rc, _, err = patch_cli(tmp_path, "del", diff({"rust/kernel/old.rs": (old, None)}), capsys)
    assert rc == 0, err
    assert not (cache / "del/rust/kernel/old.rs").exists()
    assert meta(cache, "del")["changed"] == {"deleted": ["rust/kernel/old.rs"]}
    rc, _, err = patch_cli(tmp_path, "del2", diff({"rust/kernel/gone.rs": ("x\n", None)}), capsys)
    assert rc == 0 and meta(cache, "del2")["already_present"] == [
        "rust/kernel/gone.rs (the file the patch deletes is already gone)"]


@pytest.mark.treeless
def test_a_deletion_that_does_not_match_fails(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "del3", diff({"rust/kernel/old.rs": ("// other\n", None)}),
                           capsys)
    assert rc == 2 and "rust/kernel/old.rs hunk #1" in err and "'// other'" in err


@pytest.mark.treeless
def test_a_renamed_file_moves_with_its_hunks(cache, tmp_path, capsys):
    text = ("diff --git a/rust/kernel/old.rs b/rust/kernel/new.rs\nsimilarity index 60%\n"
            "rename from rust/kernel/old.rs\nrename to rust/kernel/new.rs\n"
            "--- a/rust/kernel/old.rs\n+++ b/rust/kernel/new.rs\n@@ -1,2 +1,2 @@\n"
            " // going away\n-fn f() {}\n+fn g() {}\n")
    rc, _, err = patch_cli(tmp_path, "mv", text, capsys)
    assert rc == 0, err
    assert not (cache / "mv/rust/kernel/old.rs").exists()
    assert tree_text(cache, "mv", "rust/kernel/new.rs") == "// going away\nfn g() {}\n"
    assert meta(cache, "mv")["changed"] == {"added": ["rust/kernel/new.rs"],
                                            "deleted": ["rust/kernel/old.rs"]}


@pytest.mark.treeless
def test_no_newline_at_end_of_file_is_honoured(cache, tmp_path, capsys):
    text = ("--- a/rust/kernel/old.rs\n+++ b/rust/kernel/old.rs\n@@ -1,2 +1,2 @@\n"
            " // going away\n-fn f() {}\n+fn f() {} // last\n\\ No newline at end of file\n")
    rc, _, err = patch_cli(tmp_path, "eol", text, capsys)
    assert rc == 0, err
    assert tree_text(cache, "eol", "rust/kernel/old.rs") == "// going away\nfn f() {} // last"


@pytest.mark.treeless
def test_an_already_applied_hunk_is_skipped_and_said(cache, tmp_path, capsys):
    # Written against a tree without the gpu module: 7.2 has it already.
    before = LIB.replace('#[cfg(CONFIG_GPU_BUDDY = "y")]\npub mod gpu;\n', "")
    both = diff({"rust/kernel/lib.rs": (before, LIB),
                 "drivers/gpu/buddy.c": (BUDDY_C, NEW_C)})
    rc, _, err = patch_cli(tmp_path, "again", both, capsys)
    assert rc == 0, err
    assert tree_text(cache, "again", "rust/kernel/lib.rs") == LIB  # not doubled
    assert tree_text(cache, "again", "drivers/gpu/buddy.c") == NEW_C
    m = meta(cache, "again")
    assert m["already_present"] == ["rust/kernel/lib.rs hunk #1 @@ -2,5 +2,7 @@"]
    assert m["changed"] == {"modified": ["drivers/gpu/buddy.c"]}
    assert "rust/kernel/lib.rs hunk #1 @@ -2,5 +2,7 @@: already present in 7.2 (at line 2)" in err


@pytest.mark.treeless
def test_later_hunks_find_their_place_after_an_offset_or_an_already_present_hunk(
        cache, tmp_path, capsys):
    long = FILES["rust/kernel/long.rs"]
    # Written against a file without C3 and C4 (so every later line sat 2 higher),
    # adding C4 back (already there) and changing C30.
    theirs = long.replace("const C3: u32 = 3;\nconst C4: u32 = 4;\n", "")
    mine = theirs.replace("const C2: u32 = 2;\n", "const C2: u32 = 2;\nconst C3: u32 = 3;\n"
                          "const C4: u32 = 4;\n").replace("= 30;", "= 300;")
    text = "".join(difflib.unified_diff(theirs.splitlines(True), mine.splitlines(True),
                                        "a/rust/kernel/long.rs", "b/rust/kernel/long.rs", n=2))
    assert text.count("@@ -") == 2
    rc, _, err = patch_cli(tmp_path, "far", text, capsys)
    assert rc == 0, err
    assert tree_text(cache, "far", "rust/kernel/long.rs") == long.replace("= 30;", "= 300;")
    assert "hunk #1 @@ -2,4 +2,6 @@: already present in 7.2 (at line 2)" in err
    assert "hunk #2" not in err  # the first hunk's shift is carried: no offset left

    # The same change against the file as it is, but with the hunk's header 5 lines off.
    shifted = "".join(difflib.unified_diff(long.splitlines(True), long.replace(
        "= 30;", "= 300;").splitlines(True), "a/rust/kernel/long.rs", "b/rust/kernel/long.rs"))
    shifted = shifted.replace("@@ -28,7 +28,7 @@", "@@ -23,7 +23,7 @@")
    rc, _, err = patch_cli(tmp_path, "off", shifted, capsys)
    assert rc == 0, err
    assert "hunk #1 @@ -23,7 +23,7 @@: applied at line 28 (offset +5)" in err


@pytest.mark.treeless
def test_a_hunk_cut_in_its_trailing_context_still_applies(cache, tmp_path, capsys):
    lines = quote(diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)})).splitlines(True)
    rc, _, err = patch_cli(tmp_path, "cut", "".join(lines[:-2]) + "Looks right.\n", capsys)
    assert rc == 0, err
    assert "quoted without its last 2 line(s)" in err
    assert tree_text(cache, "cut", "drivers/gpu/buddy.c") == NEW_C


# -- names, bases, the cache --------------------------------------------------------

@pytest.mark.treeless
def test_patching_the_same_name_again_replaces_it_and_says_so(cache, tmp_path, capsys):
    assert patch_cli(tmp_path, "v2", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                     capsys)[0] == 0
    other = BUDDY_C.replace("return 0;", "return 1;")
    rc, _, err = patch_cli(tmp_path, "v2", diff({"drivers/gpu/buddy.c": (BUDDY_C, other)}),
                           capsys)
    assert rc == 0, err
    assert "replacing tree v2 (was v2.patch onto 7.2)" in err
    assert tree_text(cache, "v2", "drivers/gpu/buddy.c") == other  # onto the base, not stacked
    assert [p.name for p in cache.iterdir() if p.name.startswith(".v2")] == []


@pytest.mark.parametrize("name,what", [
    ("7.2", "looks like a kernel version"), ("6.12", "looks like a kernel version"),
    ("../x", "cannot name a tree"), ("a/b", "cannot name a tree"),
    (".hidden", "cannot name a tree"), ("x y", "cannot name a tree"),
])
@pytest.mark.treeless
def test_bad_names_are_refused(cache, tmp_path, capsys, name, what):
    rc, out, err = patch_cli(tmp_path, name, diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                             capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and what in err
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".lock")) == ["7.2"]


@pytest.mark.treeless
def test_a_missing_base_says_kernel_fetch(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "x", diff({"a": ("1\n", "2\n")}), capsys, onto="6.12")
    assert rc == 2 and err.count("\n") == 1
    assert "kernel 6.12 is not cached: run `buddy-harness kernel fetch 6.12` first" in err


@pytest.mark.treeless
def test_no_patch_in_the_file_is_one_line(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "x", "Hello,\n\nno patch here.\n", capsys)
    assert rc == 2 and err.count("\n") == 1 and "no patch found" in err


@pytest.mark.treeless
def test_paths_outside_the_tree_are_refused(cache, tmp_path, capsys):
    rc, _, err = patch_cli(tmp_path, "x", diff({"../escape": (None, "x\n")}), capsys)
    assert rc == 2 and "'../escape' is outside the tree" in err


@pytest.mark.treeless
def test_a_patched_tree_resolves_for_any_family_with_its_base_version(cache, tmp_path, capsys):
    assert patch_cli(tmp_path, "v3", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                     capsys)[0] == 0
    for family in ("native", "rust"):
        t = resolve_tree(f"{family}@v3", log=lambda _m: None)
        assert t.root == cache / "v3" and t.version == "7.2.13"
    # Fetched versions stay what run covers by default; kernel list shows both.
    assert [c.version for c in kernels.cached()] == ["7.2"]
    assert main(["kernel", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].startswith("v3\t7.2.13-1\t") and "v3.patch onto 7.2" in rows[1]
    from harness.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="kernel patch NAME --onto VERSION FILE"):
        resolve_tree("native@v4", log=lambda _m: None)


@pytest.mark.treeless
def test_a_patched_tree_inherits_its_base_expectations(cache, tmp_path, capsys):
    assert patch_cli(tmp_path, "v5", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                     capsys)[0] == 0
    specs = tmp_path / "specs"
    (specs / "expectations").mkdir(parents=True)
    (specs / "expectations/native@7.2.yaml").write_text("a.case: base reason\nb.case: base\n")
    (specs / "expectations/native@v5.yaml").write_text("b.case: own reason\nc.case: own\n")
    exp = expectations.load([specs], "native@v5")
    assert exp.entries == {"a.case": "base reason", "b.case": "own reason", "c.case": "own"}
    assert expectations.load([specs], "native@7.2").entries == {"a.case": "base reason",
                                                                "b.case": "base"}


@pytest.mark.treeless
def test_a_failed_patch_leaves_an_existing_tree_as_it_was(cache, tmp_path, capsys):
    assert patch_cli(tmp_path, "keep", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                     capsys)[0] == 0
    rc, _, _ = patch_cli(tmp_path, "keep", diff({"drivers/gpu/buddy.c": ("zzz\n", "y\n")}), capsys)
    assert rc == 2 and tree_text(cache, "keep", "drivers/gpu/buddy.c") == NEW_C


@pytest.mark.treeless
def test_a_tree_patched_onto_an_older_cache_layout_says_patch_again(cache, tmp_path, capsys):
    assert patch_cli(tmp_path, "v6", diff({"drivers/gpu/buddy.c": (BUDDY_C, NEW_C)}),
                     capsys)[0] == 0
    m = meta(cache, "v6")
    (cache / "v6/buddy-harness.json").write_text(json.dumps(dict(m, layout=kernels.LAYOUT - 1)))
    from harness.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="kernel patch v6 --onto 7.2 FILE` again"):
        resolve_tree("native@v6", log=lambda _m: None)


@pytest.mark.treeless
def test_check_name_accepts_review_style_names():
    for name in ("v12.1", "v13-rc1", "joel_v12.1+fix"):
        trees.check_name(name)
    with pytest.raises(PatchError):
        trees.check_name("")


# -- the real posting ------------------------------------------------------------------

def _posting_buddy_rs(text: str) -> list[str]:
    """buddy.rs as the first quoted copy has it: every '> +' line of its hunk."""
    lines = text.splitlines()
    start = lines.index("> @@ -0,0 +1,611 @@") + 1
    out = []
    for ln in lines[start:]:
        if ln.startswith("> diff --git"):
            break
        if ln.startswith("> +"):
            out.append(ln[3:])
    return out


def test_the_v12_1_posting_onto_7_2(tmp_path, monkeypatch, capsys):
    if not SEED.is_file():
        pytest.skip(f"the review thread is not at {SEED}")
    real = kernels.locate("7.2")
    if real is None:
        pytest.skip("kernel 7.2 is not cached (buddy-harness kernel fetch 7.2)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copytree(real, kernels.kernels_dir() / "7.2", symlinks=True)
    rc = main(["kernel", "patch", "v12.1", "--onto", "7.2", str(SEED)])
    _, err = capsys.readouterr()
    assert rc == 0, err
    tree = kernels.kernels_dir() / "v12.1"
    got = (tree / "rust/kernel/gpu/buddy.rs").read_text().splitlines()
    want = _posting_buddy_rs(SEED.read_text())
    assert len(want) == 611 and got == want
    assert "physical_memory_size" in "\n".join(got)
    assert (tree / "rust/kernel/gpu/mod.rs").read_text().endswith("pub mod buddy;\n")
    assert not (tree / "rust/kernel/gpu.rs").exists()
    assert (tree / "rust/kernel/lib.rs").read_bytes() == (real / "rust/kernel/lib.rs").read_bytes()
    for rel in ("drivers/gpu/buddy.c", "include/linux/gpu_buddy.h"):  # its C is 7.2's
        assert (tree / rel).read_bytes() == (real / rel).read_bytes()
    m = meta(kernels.kernels_dir(), "v12.1")
    assert m["changed"] == {"added": ["rust/kernel/gpu/mod.rs"],
                            "replaced": ["rust/kernel/gpu/buddy.rs"],
                            "dropped": ["rust/kernel/gpu.rs"]}
    assert m["already_present"] == ["rust/kernel/lib.rs hunk #1 @@ -98,6 +98,8 @@"]
    assert "taking copy 1 (line 68)" in err and "copy 2 quotes the same patch" in err
    t = resolve_tree("native@v12.1", log=lambda _m: None)
    assert t.version.startswith("7.2.") and t.api == "gpu_buddy"
    assert os.path.samefile(t.root, tree)
    # Its C is 7.2's, so native@v12.1 shares native@7.2's build.
    from harness.backends.native import build

    base = resolve_tree("native@7.2", log=lambda _m: None)
    assert build._key(t, "cc", build.flags(t, False)) == build._key(base, "cc",
                                                                     build.flags(base, False))
