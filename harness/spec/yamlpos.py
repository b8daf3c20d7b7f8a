"""YAML with a line:col on every node, and nothing but plain data.

PyYAML composes the document into nodes (which carry marks); this module then
builds its own :class:`YNode` tree from them instead of letting PyYAML
construct Python objects, so no tag can ever run code: any tag other than
``!!str``, ``!!map`` and ``!!seq`` is an error naming the tag.

Plain scalars are typed by YAML 1.2 core rules (not PyYAML's 1.1 ones), so
``yes``/``on`` stay strings and ``1:30`` or ``010`` are never read as base 60
or octal: ``null``/``~``/empty is None, ``true``/``false`` (any of the three
usual casings) are booleans, a decimal without leading zeros is an int, everything else
is a string (numbers such as ``0x10`` or ``4K`` are expressions, parsed later).

Limits keep hostile files cheap: at most MAX_BYTES of text, MAX_NODES nodes
after alias expansion, MAX_DEPTH levels of nesting; a recursive alias is an
error.  ``<<`` merge keys are honoured.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from harness import fileio
from harness.spec.position import Pos, SpecError

MAX_BYTES = 2 << 20
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 100

_CORE = "tag:yaml.org,2002:"
_PLAIN = "tag:harness:plain"  # an untagged plain scalar, typed by our own rules
_ALLOWED_TAGS = {_CORE + "str", _CORE + "map", _CORE + "seq", _PLAIN}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True,
          "false": False, "False": False, "FALSE": False}


@dataclass
class YNode:
    """One node: ``kind`` is map, list or scalar; ``value`` holds children or the scalar."""

    kind: str
    pos: Pos
    value: Any
    # maps: position of each key
    key_pos: dict[str, Pos] = field(default_factory=dict)
    # scalars: the text as written, whether it was a plain (unquoted) scalar, and
    # whether text[0] sits at pos with the text on one line (exact columns inside it)
    text: str = ""
    plain_style: bool = False
    exact: bool = False
    text_pos: Pos | None = None

    def to_plain(self) -> Any:
        """The position-free Python value (dicts, lists, str, int, bool, None)."""
        if self.kind == "map":
            return {k: v.to_plain() for k, v in self.value.items()}
        if self.kind == "list":
            return [v.to_plain() for v in self.value]
        return self.value

    def describe(self) -> str:
        """What the node is, in words, for error messages."""
        if self.kind == "map":
            return "a mapping"
        if self.kind == "list":
            return "a list"
        v = self.value
        if v is None:
            return "nothing (null)"
        if isinstance(v, bool):
            return f"the boolean {'true' if v else 'false'}"
        if isinstance(v, int):
            return f"the number {v}"
        return f"the string '{_short(v)}'"


def _short(s: str, n: int = 40) -> str:
    s = s.replace("\n", "\\n")
    return s if len(s) <= n else s[: n - 3] + "..."


def tag_name(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _Loader(Reader, Scanner, Parser, Composer, BaseResolver):
    """PyYAML's pure-Python front end with our resolver and a nesting limit."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        BaseResolver.__init__(self)
        self.depth = 0

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _CORE + "str"
        return _CORE + ("seq" if kind is SequenceNode else "map")

    def compose_node(self, parent: Any, index: Any) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read(path: str | os.PathLike) -> bytes:
    """The bytes of a spec file (or an expectation or waiver file), read with
    :func:`harness.fileio.read_input`: a FIFO, a device or a file past MAX_BYTES is an
    error at 1:1, refused before it is read."""
    try:
        return fileio.read_input(path, MAX_BYTES, hint="split it into several files")
    except fileio.InputError as e:
        raise SpecError(Pos(str(path), 1, 1), e.problem, e.hint or None) from None


def decode(data: bytes, file: str) -> str:
    """UTF-8 text of a spec file (a BOM is dropped); bad bytes are an error at their line:col."""
    if len(data) > MAX_BYTES:
        raise SpecError(Pos(file, 1, 1), f"file is larger than {MAX_BYTES >> 20} MiB",
                        "split it into several files")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        col = len(data[line_start:e.start].decode("utf-8", "replace")) + 1
        raise SpecError(Pos(file, line, col),
                        f"invalid UTF-8 byte 0x{data[e.start]:02x}",
                        "save the file as UTF-8") from None
    return text.removeprefix("\ufeff")


def _pos(file: str, mark: Any) -> Pos:
    return Pos(file, mark.line + 1, mark.column + 1)


def _pos_of_index(file: str, text: str, index: int) -> Pos:
    line = text.count("\n", 0, index) + 1
    return Pos(file, line, index - (text.rfind("\n", 0, index) + 1) + 1)


def load(text: str, file: str) -> YNode:
    """Compose one YAML document and return its root node, which must be a mapping."""
    loader = None
    try:
        loader = _Loader(text)
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            raise SpecError(Pos(file, 1, 1), "file is empty",
                            "a spec file holds one case mapping or a `cases:` list")
        root = loader.compose_document()
        if not loader.check_event(yaml.StreamEndEvent):
            mark = loader.peek_event().start_mark
            raise SpecError(_pos(file, mark), "more than one YAML document in the file",
                            "put several cases in one document under `cases:`")
    except _TooDeep as e:
        raise SpecError(_pos(file, e.mark), f"nesting deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = _pos(file, mark) if mark else Pos(file, 1, 1)
        problem = (e.problem or e.context or "syntax error").strip()
        raise SpecError(where, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as e:
        shown = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise SpecError(_pos_of_index(file, text, e.position),
                        f"invalid character {shown} in the file", "remove it") from None
    except yaml.YAMLError as e:  # any other front-end refusal, still one line
        raise SpecError(Pos(file, 1, 1), f"invalid YAML: {str(e).splitlines()[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    node = _Builder(file).build(root)
    if node.kind != "map":
        raise SpecError(node.pos, f"the document is {node.describe()}, not a mapping",
                        "a spec file holds one case mapping or a `cases:` list")
    return node


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, depth: int = 0) -> YNode:
        pos = _pos(self.file, node.start_mark)
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(pos, f"the document has more than {MAX_NODES} nodes "
                                 "(after expanding aliases)", "split it into several files")
        if depth > MAX_DEPTH:
            raise SpecError(pos, f"nesting deeper than {MAX_DEPTH} levels (after expanding "
                                 "aliases)")
        if node.tag not in _ALLOWED_TAGS:
            raise SpecError(pos, f"tag '{tag_name(node.tag)}' is not allowed",
                            "spec files are plain YAML: mappings, lists, strings, numbers, "
                            "booleans")
        if id(node) in self.active:
            raise SpecError(pos, "an alias refers to a node that contains it")
        if isinstance(node, ScalarNode):
            return self._scalar(node, pos)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return YNode("list", pos, [self.build(n, depth + 1) for n in node.value])
            return self._mapping(node, pos, depth)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: ScalarNode, pos: Pos) -> YNode:
        text = node.value
        value: Any = text
        plain = node.tag == _PLAIN
        if plain:
            if text in _NULLS:
                value = None
            elif text in _BOOLS:
                value = _BOOLS[text]
            elif _INT.fullmatch(text):
                digits = len(text.lstrip("+-"))
                if digits > MAX_INT_DIGITS:  # far past u64, and past what int() converts
                    raise SpecError(pos, f"number {text[:20]}... ({digits:,} digits) does not "
                                         "fit in u64", "values must be below 2**64")
                value = int(text)
        start, end = node.start_mark, node.end_mark
        width = end.column - start.column
        quoted = node.style in ("'", '"')
        one_line = start.line == end.line
        exact = one_line and width == len(text) + (2 if quoted else 0)
        text_pos = Pos(pos.file, pos.line, pos.col + (1 if quoted else 0))
        return YNode("scalar", pos, value, text=text, plain_style=plain, exact=exact,
                     text_pos=text_pos)

    def _mapping(self, node: MappingNode, pos: Pos, depth: int) -> YNode:
        out: dict[str, YNode] = {}
        key_pos: dict[str, Pos] = {}
        merged: list[tuple[str, Pos, YNode]] = []
        for knode, vnode in node.value:
            kpos = _pos(self.file, knode.start_mark)
            if not isinstance(knode, ScalarNode):
                raise SpecError(kpos, "a mapping key must be a plain name, not a "
                                      + ("list" if isinstance(knode, SequenceNode) else
                                         "mapping"))
            if knode.tag not in _ALLOWED_TAGS:
                raise SpecError(kpos, f"tag '{tag_name(knode.tag)}' is not allowed")
            key = knode.value
            if key == "<<" and knode.tag == _PLAIN:
                merged.extend(self._merge(vnode, depth))
                continue
            if key in out:
                first = key_pos[key]
                raise SpecError(kpos, f"duplicate key '{key}' (first at line {first.line}:"
                                      f"{first.col})", "each key may appear once in a mapping")
            self.count += 1
            out[key] = self.build(vnode, depth + 1)
            key_pos[key] = kpos
        for key, kpos, value in merged:  # explicit keys win over merged ones
            if key not in out:
                out[key] = value
                key_pos[key] = kpos
        return YNode("map", pos, out, key_pos=key_pos)

    def _merge(self, vnode: Node, depth: int) -> list[tuple[str, Pos, YNode]]:
        sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
        items: list[tuple[str, Pos, YNode]] = []
        for src in sources:
            built = self.build(src, depth + 1)
            if built.kind != "map":
                raise SpecError(built.pos, f"'<<' merges mappings, got {built.describe()}")
            items.extend((k, built.key_pos[k], v) for k, v in built.value.items())
        return items
