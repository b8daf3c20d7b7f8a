"""Kernel-doc comments (``/** ... */``) of a C file, with the line of every sentence.

The format is the kernel's own (Documentation/doc-guide/kernel-doc.rst): the
first line names what is documented (``name() - purpose``, ``struct name -
purpose``, ``NAME - purpose``, ``DOC: title``), then ``@param:`` /
``@member:`` descriptions (continued on the following lines), free text, and
sections opened by a known heading such as ``Return:`` or ``Context:``.  The
tree's own kernel-doc parser (see :mod:`harness.docs.kdoc_tool`) agrees on
which items there are; this module adds where each sentence is.
"""

from __future__ import annotations

import re

from harness.docs.model import DocItem, Part
from harness.docs.text import sentences

_OPEN = re.compile(r"^\s*/\*\*\s*$")
_CLOSE = re.compile(r"\*/\s*$")
_BODY = re.compile(r"^\s*\*(?!/) ?(.*)$")
_HEAD = re.compile(
    r"^(?:(?P<kw>struct|union|enum|typedef)\s+)?(?P<name>[A-Za-z_][\w]*)\s*(?:\(\))?"
    r"\s*(?:[-:]\s*(?P<purpose>.*))?$")
_DOC = re.compile(r"^DOC:\s*(?P<title>.*)$")
_PARAM = re.compile(r"^@(?P<name>[\w.]+(?:\.\.\.)?)\s*:\s*(?P<text>.*)$")
_SECTION = re.compile(
    r"^(?P<name>returns?|return value|context|notes?|description|examples?|warning)\s*:\s*"
    r"(?P<text>.*)$", re.IGNORECASE)
_CANON = {"returns": "return", "return value": "return", "notes": "note", "examples": "example"}


def extract(rel: str, text: str) -> list[DocItem]:
    """Every kernel-doc block of ``text`` (the file at ``rel`` in its tree)."""
    lines = text.splitlines()
    items: list[DocItem] = []
    i = 0
    while i < len(lines):
        if not _OPEN.match(lines[i]):
            i += 1
            continue
        start = i
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines) and not _CLOSE.search(lines[i]):
            m = _BODY.match(lines[i])
            body.append((i + 1, m.group(1) if m else lines[i].strip()))
            i += 1
        item = _block(rel, start + 1, i + 1, body)
        if item is not None:
            items.append(item)
        i += 1
    return items


def _block(rel: str, line: int, end: int, body: list[tuple[int, str]]) -> DocItem | None:
    while body and not body[0][1].strip():
        body = body[1:]
    if not body:
        return None
    first_line, first = body[0][0], body[0][1].strip()
    doc = _DOC.match(first)
    head = None if doc else _HEAD.match(first)
    if doc:
        kind, name, ident = "doc", doc.group("title").strip(), f"DOC: {doc.group('title').strip()}"
        purpose = ""
    elif head:
        name = head.group("name")
        kw = head.group("kw")
        kind = kw or ("function" if "(" in first.split("-")[0] else
                      "macro" if name.isupper() else "function")
        ident = f"{kw} {name}" if kw else name
        purpose = head.group("purpose") or ""
    else:
        return None
    parts: list[Part] = []
    summary = Part("summary", first_line, sentences([(first_line, purpose)] if purpose else []))
    parts.append(summary)
    current: tuple[str, int, list[tuple[int, str]]] | None = None

    def close() -> None:
        if current is not None:
            pname, pline, plines = current
            sents = sentences(plines)
            if sents or pname.startswith("@"):
                merged = next((p for p in parts if p.name == pname), None)
                if merged is None:
                    parts.append(Part(pname, pline, sents))
                else:
                    merged.sentences.extend(sents)

    for lineno, raw in body[1:]:
        s = raw.strip()
        pm = _PARAM.match(s)
        sm = _SECTION.match(s)
        if pm:
            close()
            current = (f"@{pm.group('name')}", lineno, [(lineno, pm.group("text"))])
        elif sm:
            close()
            sec = sm.group("name").lower()
            current = (_CANON.get(sec, sec), lineno, [(lineno, sm.group("text"))])
        elif not s:
            # A blank line ends a parameter's text; the rest is the description.
            if current is not None and current[0].startswith("@"):
                close()
                current = None
            elif current is not None:
                current[2].append((lineno, ""))
        else:
            if current is None:
                current = ("description", lineno, [])
            current[2].append((lineno, s))
    close()
    return DocItem(id=ident, kind=kind, name=name, file=rel, line=line, end_line=end,
                   parts=parts)
