"""Applying a parsed patch to a directory tree, in the project's own code.

Rules (each one is reported, never silent):

- **Context matches modulo whitespace**, as ``patch -l`` does: runs of blanks
  compare equal and leading or trailing blanks are ignored, since quoting and
  mailers collapse indentation.  Matched context keeps the tree's own text;
  added lines are written exactly as the patch gives them.
- **Position**: a hunk is looked for nearest to the line its header names
  (shifted by what earlier hunks of the file added or removed), anywhere in
  the file after the previous hunk.
- **Already present**: when the hunk's result (context and added lines) is in
  the file and its original (context and removed lines) is not, or both are
  at the same place and the result is the longer (its added lines are there),
  the hunk is skipped and listed as already present.
- **A created file that exists** is replaced by the patch's content (listed as
  replaced), or counted as already present when it is the same text.
- **Rust module files**: creating ``X/mod.rs`` drops an ``X.rs`` the patch
  does not touch, and creating ``X.rs`` drops an untouched ``X/mod.rs``
  (rustc refuses a module found at both); each drop is listed.
- **A deleted file** must match the hunks as a whole; a file already gone is
  already present.
- Anything else that does not match is a :class:`PatchError` naming the
  first failing hunk and the first of its lines that the tree does not have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.patching.parse import FilePatch, Hunk, Patch, PatchError


@dataclass
class Result:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # created by the patch, existed before
    dropped: list[str] = field(default_factory=list)  # removed to keep the tree buildable
    already: list[str] = field(default_factory=list)  # "path hunk" already present
    notes: list[str] = field(default_factory=list)

    def changed(self) -> dict[str, list[str]]:
        return {k: sorted(set(v)) for k, v in (
            ("added", self.added), ("modified", self.modified), ("deleted", self.deleted),
            ("replaced", self.replaced), ("dropped", self.dropped)) if v}


@dataclass
class _File:
    lines: list[str]
    eol: bool  # ends with a newline


def norm(s: str) -> str:
    return " ".join(s.split())


class Tree:
    """A directory seen through an overlay of pending changes, written at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, _File | None] = {}  # None: deleted

    def exists(self, rel: str) -> bool:
        if rel in self.files:
            return self.files[rel] is not None
        return self.path(rel).is_file()

    def path(self, rel: str) -> Path:
        """``rel`` inside the tree, reached without following a link.

        A directory link (``drivers/gpu/evil -> /elsewhere``) on the way is refused, so
        nothing the patch creates, changes or deletes lands outside the tree; a link at the
        end is read only if it points inside the tree, and replaced (never written
        through) when the file is written.
        """
        here = self.root
        parts = PurePosixPath(rel).parts
        pending = {PurePosixPath(k): v for k, v in self.files.items()}
        for i, part in enumerate(parts):
            here = here / part
            last = i == len(parts) - 1
            sofar = PurePosixPath(*parts[:i + 1])
            if not last and pending.get(sofar) is not None or \
                    last and any(sofar in k.parents and v for k, v in pending.items()):
                raise PathError(f"'{sofar}' is both a file and a directory in the patch")
            if not here.is_symlink():
                if here.is_dir() if last else here.exists() and not here.is_dir():
                    what = "a directory" if last else "a file"
                    raise PathError(f"'{PurePosixPath(*parts[:i + 1])}' is {what} in the tree")
                continue
            if not last:
                raise PathError(f"'{rel}' passes through the link "
                                f"'{PurePosixPath(*parts[:i + 1])}' in the tree (a patch "
                                "never writes or reads through a link)")
            target = os.path.realpath(here)
            if os.path.commonpath([target, os.path.realpath(self.root)]) != \
                    os.path.realpath(self.root):
                raise PathError(f"'{rel}' is a link to outside the tree (a patch never "
                                "writes or reads through it)")
        return here

    def get(self, rel: str) -> _File:
        f = self.files.get(rel)
        if f is None:
            text = self.path(rel).read_bytes().decode("utf-8", "surrogateescape")
            lines = text.split("\n")
            eol = lines[-1] == ""
            f = _File(lines[:-1] if eol else lines, eol or text == "")
            self.files[rel] = f
        return f

    def write_out(self) -> None:
        for rel, f in self.files.items():
            p = self.path(rel)
            if f is None:
                if p.is_file() or p.is_symlink():
                    p.unlink()
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_symlink():
                p.unlink()  # never write through a link into another tree
            text = "\n".join(f.lines) + ("\n" if f.eol and f.lines else "")
            p.write_bytes(text.encode("utf-8", "surrogateescape"))


class PathError(Exception):
    """A path of the patch cannot be a file of the tree (raised as a PatchError)."""


def apply(patch: Patch, root: Path, source: str, onto: str) -> Result:
    """Apply ``patch`` to the tree at ``root`` (only written if every hunk applies)."""
    tree = Tree(root)
    res = Result()
    touched = {p for f in patch.files for p in (f.old, f.new) if p}
    for fp in patch.files:
        for p in (fp.old, fp.new):
            if p is not None:
                _check_path(p, fp, source)
                try:
                    tree.path(p)
                except PathError as e:
                    raise PatchError(f"{source}:{fp.at}: {e}") from None
        if fp.old is None and fp.new is None:
            raise PatchError(f"{source}:{fp.at}: a file header names no file")
        if fp.old is None:
            _create(tree, fp, res, source, onto, touched)
        elif fp.new is None:
            _delete(tree, fp, res, source, onto)
        else:
            _modify(tree, fp, res, source, onto)
    tree.write_out()
    return res


def _check_path(p: str, fp: FilePatch, source: str) -> None:
    pp = PurePosixPath(p)
    if pp.is_absolute() or ".." in pp.parts or not pp.parts:
        raise PatchError(f"{source}:{fp.at}: '{p}' is outside the tree (a patch names files "
                         "relative to the tree's root)")


def _create(tree: Tree, fp: FilePatch, res: Result, source: str, onto: str,
            touched: set[str]) -> None:
    path = fp.new
    assert path is not None
    new = _File([], True)
    for h in fp.hunks:
        _apply_hunk(new, h, fp, source, onto, res, offset=0, after=0)
    if tree.exists(path):
        old = tree.get(path)
        if [norm(x) for x in old.lines] == [norm(x) for x in new.lines]:
            res.already.append(f"{path} (the file the patch creates is already there)")
            return
        res.replaced.append(path)
        res.notes.append(f"{path}: the patch creates it, {onto} already has it: replaced by the "
                         "patch's version")
    else:
        res.added.append(path)
    tree.files[path] = new
    sibling = _module_sibling(path)
    if sibling and sibling not in touched and tree.exists(sibling):
        tree.files[sibling] = None
        res.dropped.append(sibling)
        res.notes.append(f"{sibling}: dropped, since the patch brings {path} and rustc refuses "
                         "a module file at both places")


def _module_sibling(path: str) -> str | None:
    """The other file a Rust module could live in: ``x/mod.rs`` <-> ``x.rs``."""
    if path.endswith("/mod.rs"):
        return path[: -len("/mod.rs")] + ".rs"
    if path.endswith(".rs"):
        return path[:-3] + "/mod.rs"
    return None


def _delete(tree: Tree, fp: FilePatch, res: Result, source: str, onto: str) -> None:
    path = fp.old
    assert path is not None
    if not tree.exists(path):
        res.already.append(f"{path} (the file the patch deletes is already gone)")
        return
    f = tree.get(path)
    work = _File(list(f.lines), f.eol)
    offset = after = 0
    for h in fp.hunks:
        offset, after = _apply_hunk(work, h, fp, source, onto, res, offset, after)
    if any(x.strip() for x in work.lines):
        raise PatchError(f"{source}:{fp.at}: patch does not apply onto {onto}: {path} is to be "
                         f"deleted but has {len(work.lines)} line(s) the patch does not remove")
    tree.files[path] = None
    res.deleted.append(path)


def _modify(tree: Tree, fp: FilePatch, res: Result, source: str, onto: str) -> None:
    old, new = fp.old, fp.new
    assert old is not None and new is not None
    if not tree.exists(old):
        h = fp.hunks[0].header if fp.hunks else "(no hunk)"
        raise PatchError(f"{source}:{fp.at}: patch does not apply onto {onto}: {old} hunk #1 "
                         f"{h}: the file is not in the tree")
    f = tree.get(old)
    offset = after = 0
    before = list(f.lines)
    for h in fp.hunks:
        offset, after = _apply_hunk(f, h, fp, source, onto, res, offset, after)
    if old != new:
        if tree.exists(new):
            res.replaced.append(new)
            res.notes.append(f"{new}: the patch renames {old} to it, {onto} already has it: "
                             "replaced")
        else:
            res.added.append(new)
        tree.files[old] = None
        tree.files[new] = f
        res.deleted.append(old)
    elif f.lines != before:
        res.modified.append(new)


def _apply_hunk(f: _File, h: Hunk, fp: FilePatch, source: str, onto: str, res: Result,
                offset: int, after: int) -> tuple[int, int]:
    """Apply one hunk to ``f`` in place; returns (offset, end of the hunk in the file)."""
    pre = [ln for ln in h.lines if ln.kind != "+"]
    post = [ln for ln in h.lines if ln.kind != "-"]
    have = [norm(x) for x in f.lines]
    want_pre = [norm(ln.text) for ln in pre]
    want_post = [norm(ln.text) for ln in post]
    expected = max(h.old_start - 1, 0) + offset if h.old_len else h.old_start + offset
    at_pre = _find(have, want_pre, expected, after)
    # An empty result (a whole file removed) says nothing about what is already there.
    at_post = _find(have, want_post, expected, after) \
        if want_post and want_pre != want_post else None
    number = fp.hunks.index(h) + 1
    # Both in place at once means one is a prefix of the other: the longer is what is there.
    if at_post is not None and (at_pre is None or (at_pre == at_post and len(post) > len(pre))):
        res.already.append(f"{fp.path} hunk #{number} {h.header}")
        res.notes.append(f"{fp.path} hunk #{number} {h.header}: already present in {onto} "
                         f"(at line {at_post + 1}): skipped")
        # The file is past this hunk already: later hunks shift as if it had been applied.
        return offset + (at_post - expected) + len(post) - len(pre), at_post + len(post)
    if at_pre is None:
        raise PatchError(_failure(have, f.lines, h, pre, want_pre, expected, after, fp, number,
                                  source, onto))
    if at_pre != expected and h.old_len:
        res.notes.append(f"{fp.path} hunk #{number} {h.header}: applied at line {at_pre + 1} "
                         f"(offset {at_pre - expected:+d})")
    out: list[str] = []
    k = at_pre
    for ln in h.lines:
        if ln.kind == " ":
            out.append(f.lines[k])  # the tree's own text for matched context
            k += 1
        elif ln.kind == "-":
            k += 1
        else:
            out.append(ln.text)
    ends_file = at_pre + len(pre) == len(f.lines)
    f.lines[at_pre:at_pre + len(pre)] = out
    if ends_file:
        f.eol = h.new_eof_newline
    return offset + (at_pre - expected) + len(post) - len(pre), at_pre + len(out)


def _find(have: list[str], want: list[str], expected: int, after: int) -> int | None:
    """The match of ``want`` in ``have`` at or after ``after`` nearest to ``expected``."""
    last = len(have) - len(want)
    if last < after:
        return None
    expected = min(max(expected, after), last)
    for d in range(0, max(expected - after, last - expected) + 1):
        for p in ((expected - d, expected + d) if d else (expected,)):
            if after <= p <= last and have[p:p + len(want)] == want:
                return p
    return None


def _failure(have: list[str], raw: list[str], h: Hunk, pre, want: list[str], expected: int,
             after: int, fp: FilePatch, number: int, source: str, onto: str) -> str:
    """One line: the hunk, and the first of its lines the tree lacks where it fits best."""
    best_p, best_k = expected, -1
    for p in range(after, max(len(have) - len(want), after) + 1):
        k = 0
        while k < len(want) and p + k < len(have) and have[p + k] == want[k]:
            k += 1
        if k > best_k or (k == best_k and abs(p - expected) < abs(best_p - expected)):
            best_p, best_k = p, k
    bad = pre[min(best_k, len(pre) - 1)]
    what = "context line" if bad.kind == " " else "line to remove"
    if best_k <= 0:
        where = f"found nowhere in the tree's {fp.path}"
    else:
        tree_line = raw[best_p + best_k] if best_p + best_k < len(raw) else "(end of file)"
        where = (f"after {best_k} matching line(s) at tree line {best_p + 1}, the tree has "
                 f"'{tree_line.strip()}'")
    return (f"{source}:{bad.at}: patch does not apply onto {onto}: {fp.path} hunk #{number} "
            f"{h.header}: {what} '{bad.text.strip()}' {where}")
