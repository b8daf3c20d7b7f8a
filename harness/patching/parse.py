"""Reading a patch out of a git patch, an mbox or a review reply that quotes it.

Three forms, told apart by their text:

- a **git patch** (``git format-patch``) or any unified diff: every unquoted
  file header and hunk is taken, in order;
- an **mbox** of several messages: the same, message after message; a message
  whose patch repeats an earlier message's exactly (an archive often holds
  one mail twice) is skipped, saying so;
- a **quoted reply**: no unquoted diff at all, but one quoted with ``> `` (at
  the depth of the first quoted ``diff --git``/``---``/``@@`` line).  Lines at
  another depth are the reviewer's words and are skipped, even inside a hunk.
  A thread often quotes a posting more than once, and snips it: the quoted
  text is cut into *copies* (a copy ends where a file it already touched comes
  again), and the first copy whose every hunk is usable is taken.  A hunk is
  usable when it is whole, or cut short only by lines whose old and new counts
  agree after at least one added or removed line: they are taken as the
  trailing context the reviewer dropped, and each such hunk is reported.  A
  ``<snip>`` inside a hunk, or counts that disagree, make it unusable.

Quoting collapses whitespace: the space that marks a context line is often
gone, so inside a quoted hunk a line that starts with neither ``+``, ``-`` nor
a space is context.  Added lines are taken exactly as quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MBOX_FROM = re.compile(r"^From \S+ .*\d{4}\s*$")  # the mbox separator, not a "From:" header
MESSAGE = re.compile(r"^(From \S+ .*\d{4}\s*|From: .*)$")  # where a mail of a thread starts
QUOTE = re.compile(r"^((?:>[ \t]?)+)")
MAX_DIGITS = 9  # of a hunk's line number or count: no source file has a billion lines
SNIP = re.compile(r"^\s*(<\s*snip\s*>|\[\s*(snip|\.\.\.)\s*\]|\.\.\.)\s*$", re.I)
# (line number, text in the patch layer or None for a line outside it, raw line)
Numbered = tuple[int, "str | None", str]


class PatchError(Exception):
    """The patch cannot be read or applied; the message is one line saying why."""


@dataclass
class Line:
    kind: str  # " " context, "-" removed, "+" added
    text: str
    at: int  # line number in the patch file


@dataclass
class Hunk:
    header: str
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    at: int
    lines: list[Line] = field(default_factory=list)
    gap: bool = False  # a snip marker inside: lines are missing in the middle
    old_eof_newline: bool = True
    new_eof_newline: bool = True

    @property
    def missing(self) -> tuple[int, int]:
        """(old, new) lines the header promises that the text lacks."""
        old = sum(ln.kind != "+" for ln in self.lines)
        new = sum(ln.kind != "-" for ln in self.lines)
        return self.old_len - old, self.new_len - new

    @property
    def usable(self) -> bool:
        """Whole, or cut only where the counts agree (taken as context) after a change."""
        old, new = self.missing
        changes = any(ln.kind != " " for ln in self.lines)
        return not self.gap and old == new and old >= 0 and (changes or old == 0)

    def describe(self) -> str:
        old, new = self.missing
        if self.gap:
            return f"{self.header} has lines snipped out of it"
        if old != new:
            return (f"{self.header} lacks {max(old, new)} of its "
                    f"{max(self.old_len, self.new_len)} lines")
        if old and not any(ln.kind != " " for ln in self.lines):
            return f"{self.header} is cut before any line it adds or removes"
        return self.header


@dataclass
class FilePatch:
    old: str | None  # path before, None when the patch creates the file
    new: str | None  # path after, None when the patch deletes it
    at: int
    hunks: list[Hunk] = field(default_factory=list)
    has_paths: bool = False  # a ---/+++ pair was seen

    @property
    def path(self) -> str:
        return self.new or self.old or "?"

    def key(self) -> tuple:
        """What two copies of the same patch share."""
        return (self.old, self.new, tuple((h.header, tuple((ln.kind, ln.text) for ln in h.lines))
                                          for h in self.hunks))


@dataclass
class Patch:
    files: list[FilePatch]
    form: str  # git patch, mbox, quoted reply, diff
    notes: list[str] = field(default_factory=list)


def read(text: str, name: str) -> Patch:
    """The patch in ``text`` (the contents of the file ``name``); PatchError if none."""
    lines = text.splitlines()
    unquoted = _has_diff(lines)
    if unquoted:
        return _read_unquoted(lines, name)
    depth = _quote_depth(lines)
    if depth is None:
        raise PatchError(f"{name}: no patch found (expected a git patch, an mbox, or a reply "
                         "quoting one with '> ')")
    return _read_quoted(lines, depth, name)


def _has_diff(lines: list[str]) -> bool:
    prev = None
    for ln in lines:
        if ln.startswith("diff --git ") or (HUNK.match(ln) and prev is not None
                                            and prev.startswith("+++ ")):
            return True
        prev = ln
    return False


def _quote_depth(lines: list[str]) -> int | None:
    for ln in lines:
        m = QUOTE.match(ln)
        if m and ln[m.end():].startswith(("diff --git ", "@@ -")):
            return m.group(1).count(">")
    return None


def _strip_quote(ln: str, depth: int) -> str | None:
    """The text under exactly ``depth`` levels of quoting, or None for any other line."""
    m = QUOTE.match(ln)
    if (m.group(1).count(">") if m else 0) != depth:
        return None
    return ln[m.end():] if m else ln  # each level's '>' and the one blank after it


def _read_unquoted(lines: list[str], name: str) -> Patch:
    messages: list[list[Numbered]] = [[]]
    for i, ln in enumerate(lines):
        if MBOX_FROM.match(ln) and messages[-1]:
            messages.append([])
        messages[-1].append((i + 1, ln, ln))
    mail = bool(lines) and (MBOX_FROM.match(lines[0]) or any(
        ln.startswith("Subject:") for ln in lines[:40]))
    files: list[FilePatch] = []
    notes: list[str] = []
    seen: set[tuple] = set()
    for n, msg in enumerate(messages, 1):
        got = _parse(msg, name, quoted=False)
        if not got:
            continue
        key = tuple(f.key() for f in got)
        if key in seen:
            notes.append(f"message {n} (line {msg[0][0]}) repeats an earlier message's patch: "
                         "skipped")
            continue
        seen.add(key)
        for f in got:
            for h in f.hunks:
                if not h.usable:
                    raise PatchError(f"{name}:{h.at}: {f.path}: hunk {h.describe()} "
                                     "(the patch is damaged)")
        files += got
    if len(messages) > 1:
        form = f"mbox, {len(seen)} patch message(s) of {len(messages)}"
    else:
        form = "git patch" if mail else "diff"
    return Patch(files, form, notes)


def _read_quoted(lines: list[str], depth: int, name: str) -> Patch:
    numbered = [(i + 1, _strip_quote(ln, depth), ln) for i, ln in enumerate(lines)]
    files = _parse(numbered, name, quoted=True)
    copies: list[list[FilePatch]] = []
    paths: set[str] = set()  # the files the current copy touched, kept as it grows
    for f in files:
        if not copies or (f.old in paths or f.new in paths):
            copies.append([])
            paths = set()
        copies[-1].append(f)
        paths.update(p for p in (f.old, f.new) if p)
    notes = []
    chosen = None
    for n, copy in enumerate(copies, 1):
        bad = [(f, h) for f in copy for h in f.hunks if not h.usable]
        if bad:
            f, h = bad[0]
            notes.append(f"quoted copy {n} (line {copy[0].at}) is cut: {f.path} hunk "
                         f"{h.describe()}")
        elif chosen is None:
            chosen = n
    if chosen is None:
        first = notes[0] if notes else "no hunks"
        raise PatchError(f"{name}: no quoted copy of the patch is whole enough to apply ({first})")
    use = copies[chosen - 1]
    head = (f"quoted reply at depth {depth}: {len(copies)} quoted cop"
            f"{'y' if len(copies) == 1 else 'ies'} of the patch, taking copy {chosen} "
            f"(line {use[0].at}), the first whose every hunk is usable")
    others = [(n, c) for n, c in enumerate(copies, 1) if n != chosen]
    same = [n for n, c in others if _same(c, use)]
    if same:
        notes.append(f"{'copy' if len(same) == 1 else 'copies'} {', '.join(map(str, same))} "
                     f"{'quotes' if len(same) == 1 else 'quote'} the same patch")
    for n, c in others:
        if n not in same and all(h.usable for f in c for h in f.hunks):
            notes.append(f"quoted copy {n} (line {c[0].at}) is a different patch: not used "
                         "(cut the reply down to the copy you mean)")
    for f in use:
        for h in f.hunks:
            old, _ = h.missing
            if old:
                notes.append(f"{f.path} hunk {h.header} is quoted without its last {old} "
                             "line(s); their old and new counts agree, so they are context "
                             "and the hunk applies on the context it has")
    return Patch(use, "quoted reply", [head, *notes])


def _same(a: list[FilePatch], b: list[FilePatch]) -> bool:
    return [f.key() for f in a] == [f.key() for f in b]


def _parse(numbered: list[Numbered], name: str, *, quoted: bool) -> list[FilePatch]:
    files: list[FilePatch] = []
    cur: FilePatch | None = None
    i = 0
    while i < len(numbered):
        at, ln, _ = numbered[i]
        i += 1
        if ln is None:
            continue
        if ln.startswith("diff --git "):
            m = re.match(r'^diff --git "?a/(\S+?)"? "?b/(\S+?)"?\s*$', ln)
            cur = FilePatch(m[1] if m else None, m[2] if m else None, at)
            files.append(cur)
        elif cur is not None and not cur.hunks and not cur.has_paths and ln.startswith(
                ("new file mode", "deleted file mode", "rename from ", "rename to ",
                 "GIT binary patch", "Binary files ")):
            if ln.startswith("new file mode"):
                cur.old = None
            elif ln.startswith("deleted file mode"):
                cur.new = None
            elif ln.startswith("rename from "):
                cur.old = ln[len("rename from "):].strip()
            elif ln.startswith("rename to "):
                cur.new = ln[len("rename to "):].strip()
            else:
                raise PatchError(f"{name}:{at}: {cur.path}: binary patches are not supported")
        elif _file_header(numbered, i - 1):
            j, plus = _next(numbered, i)
            if cur is None or cur.hunks or cur.has_paths:
                cur = FilePatch(None, None, at)
                files.append(cur)
            cur.old, cur.new = _path(ln[4:]), _path(plus[4:])
            cur.has_paths = True
            i = j + 1
        elif HUNK.match(ln) and cur is not None:
            h, i = _hunk(numbered, i, at, ln, quoted, name)
            cur.hunks.append(h)
    for f in files:
        f.old, f.new = _spelled(f.old, f, name), _spelled(f.new, f, name)
    return files


def _spelled(path: str | None, f: FilePatch, name: str) -> str | None:
    """One spelling per file: ``a//b/./c`` is ``a/b/c``, so two spellings of a file are one
    file when hunks are grouped.  ``..`` stays, for the tree's check to refuse."""
    if path is None:
        return None
    if "\0" in path:
        raise PatchError(f"{name}:{f.at}: the file name '{path}' has a NUL byte in it (no file "
                         "can be named so)")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return path  # names no file: refused as outside the tree
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def _next(numbered: list[Numbered], i: int) -> tuple[int, str]:
    """Index and text of the next line that belongs to the patch layer."""
    while i < len(numbered):
        text = numbered[i][1]
        if text is not None:
            return i, text
        i += 1
    return i, ""


def _file_header(numbered: list[Numbered], i: int) -> bool:
    """Whether line ``i`` is a ``--- `` line followed by its ``+++ `` line."""
    ln = numbered[i][1]
    return ln is not None and ln.startswith("--- ") and \
        _next(numbered, i + 1)[1].startswith("+++ ")


def _path(field_: str) -> str | None:
    p = field_.split("\t")[0].strip()
    if p.startswith('"') and p.endswith('"'):
        p = p[1:-1]
    if p == "/dev/null":
        return None
    return p[2:] if p.startswith(("a/", "b/")) else p


def _hunk(numbered: list[Numbered], i: int, at: int, header: str,
          quoted: bool, name: str) -> tuple[Hunk, int]:
    m = HUNK.match(header)
    assert m is not None
    if any(g and len(g) > MAX_DIGITS for g in m.groups()):
        raise PatchError(f"{name}:{at}: hunk header {m.group(0)[:60]}: a line number or count "
                         f"of more than {MAX_DIGITS} digits (the patch is damaged)")
    h = Hunk(m.group(0), int(m[1]), int(m[2] or 1), int(m[3]), int(m[4] or 1), at)
    old = new = 0
    while i < len(numbered) and (old < h.old_len or new < h.new_len):
        where, ln, raw = numbered[i]
        if ln is None:
            if MESSAGE.match(raw):
                break  # the next mail of a thread: whatever it quotes is not this hunk
            # A reviewer's line inside a quoted hunk; a snip marker means lines are gone.
            h.gap = h.gap or bool(SNIP.match(raw))
            i += 1
            continue
        # Quoted text may be cut anywhere: the next header ends the hunk.  (In an
        # unquoted patch every hunk line starts with its marker, so counts suffice.)
        if quoted and (ln.startswith("diff --git ") or HUNK.match(ln)
                       or _file_header(numbered, i)):
            break
        if ln.startswith("\\"):
            _no_newline(h)
            i += 1
            continue
        kind, text = _classify(ln, quoted)
        if quoted and ln == "" and (old >= h.old_len or numbered[i - 1][1] is None):
            i += 1  # a bare '>' a reviewer leaves after a comment, not a context line
            continue
        if kind is None or (kind != "+" and old >= h.old_len) or \
                (kind != "-" and new >= h.new_len):
            break
        h.lines.append(Line(kind, text, where))
        old += kind != "+"
        new += kind != "-"
        i += 1
    j, nxt = _next(numbered, i)
    if nxt.startswith("\\"):
        _no_newline(h)
        i = j + 1
    return h, i


def _classify(ln: str, quoted: bool) -> tuple[str | None, str]:
    if ln[:1] in ("+", "-", " "):
        return ln[0], ln[1:]
    if ln == "":
        return " ", ""  # an empty context line whose marker a mailer trimmed
    if quoted:
        return " ", ln  # quoting collapsed the context marker
    return None, ln


def _no_newline(h: Hunk) -> None:
    last = h.lines[-1] if h.lines else None
    if last is None:
        return
    if last.kind in (" ", "-"):
        h.old_eof_newline = False
    if last.kind in (" ", "+"):
        h.new_eof_newline = False
