"""Comparing prose from sources and from specs: comment markers and whitespace do not count."""

from __future__ import annotations

import re

from harness.docs.model import Sentence

# Comment leaders a quote may have been copied with, or without: /** /* */ * //! /// //.
_LEADER = re.compile(r"^\s*(?:/\*+|\*+/|\*(?!\*)|//[/!]?)\s?")
_WS = re.compile(r"\s+")
# A sentence ends at . ! ? followed by space; "e.g." and decimals do not end one.
_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=\S)")


def strip_leaders(line: str) -> str:
    """A line without its comment markers (repeated: ``//! // text`` is ``text``)."""
    prev = None
    while prev != line:
        prev, line = line, _LEADER.sub("", line, count=1)
    return line.replace("*/", " ").rstrip()


def normalize(text: str) -> str:
    """Markers off every line, whitespace collapsed."""
    return _WS.sub(" ", " ".join(strip_leaders(x) for x in text.splitlines())).strip()


def sentences(lines: list[tuple[int, str]]) -> list[Sentence]:
    """Split (line number, text) pairs into sentences, each with the line it starts on.

    A blank line ends a paragraph, and so a sentence, whatever its punctuation.
    """
    out: list[Sentence] = []
    para: list[tuple[int, str]] = []
    for lineno, text in lines + [(0, "")]:
        if text.strip():
            para.append((lineno, text))
        elif para:
            out += _split(para)
            para = []
    return out


def _split(lines: list[tuple[int, str]]) -> list[Sentence]:
    joined = ""
    starts: list[tuple[int, int]] = []  # (offset in joined, line)
    for lineno, text in lines:
        text = _WS.sub(" ", text).strip()
        if joined:
            joined += " "
        starts.append((len(joined), lineno))
        joined += text
    out: list[Sentence] = []
    pos = 0
    for m in list(_END.finditer(joined)) + [None]:
        end = m.start() if m else len(joined)
        chunk = joined[pos:end].strip()
        if chunk:
            line = next(ln for off, ln in reversed(starts) if off <= pos)
            out.append(Sentence(chunk, line))
        if m:
            pos = m.end()
    return out
