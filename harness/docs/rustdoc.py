"""Rustdoc of a Rust file: module docs and their examples, every documented public item.

Ids are ``rust:module``, ``rust:Type``, ``rust:Type::member`` (a method, field
or enum variant), stable across versions as long as the Rust names are.
Private items are left out: they are not the binding's documented contract.
A fenced example is a part of its own (``example 1`` ...) whose sentences are
the comments written in it; the code is the claim a case runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.docs.model import DocItem, Part
from harness.docs.text import sentences

_INNER = re.compile(r"^\s*//!\s?(.*)$")
_OUTER = re.compile(r"^\s*///\s?(.*)$")
_ATTR = re.compile(r"^\s*#\[")
_DECL = re.compile(
    r"^\s*(?P<pub>pub(?:\([^)]*\))?\s+)?(?:unsafe\s+|const\s+|async\s+)*"
    r"(?P<kw>fn|struct|enum|trait|type|const|static|mod|union)\s+(?P<name>\w+)")
_IMPL = re.compile(r"^\s*(?:unsafe\s+)?impl\b(?:<[^>]*>)?\s+(?:[\w:<>', ]+\s+for\s+)?(?P<name>\w+)")
_FIELD = re.compile(r"^\s*pub\s+(?P<name>\w+)\s*:")
_VARIANT = re.compile(r"^\s*(?P<name>[A-Z]\w*)\s*(?:[,({=]|$)")
_HEADING = re.compile(r"^#+\s+(?P<title>.+)$")


@dataclass
class _Scope:
    kind: str  # enum, struct, impl, other
    name: str
    public: bool
    depth: int  # brace depth inside the scope


def extract(rel: str, text: str) -> list[DocItem]:
    lines = text.splitlines()
    items: list[DocItem] = []
    module = [(n + 1, m.group(1)) for n, line in enumerate(lines) if (m := _INNER.match(line))]
    if module:
        items.append(_item("rust:module", "rust-module", "module", rel, module))
    scopes: list[_Scope] = []
    depth = 0
    doc: list[tuple[int, str]] = []
    for n, line in enumerate(lines, 1):
        m = _OUTER.match(line)
        if m:
            doc.append((n, m.group(1)))
            continue
        if _INNER.match(line) or _ATTR.match(line) or not line.strip():
            if not line.strip():
                doc = []
            continue
        code = line.split("//")[0]
        scope = scopes[-1] if scopes and scopes[-1].depth == depth else None
        decl, impl = _DECL.match(line), _IMPL.match(line)
        opened: _Scope | None = None
        if decl:
            name, public = decl.group("name"), bool(decl.group("pub"))
            public = public and "(" not in (decl.group("pub") or "")
            kw = decl.group("kw")
            if scope and scope.kind == "impl":
                ident, kind = f"rust:{scope.name}::{name}", "rust-item"
                public = public and scope.public
            else:
                ident, kind = f"rust:{name}", "rust-item"
            if doc and public:
                items.append(_item(ident, kind, name, rel, doc))
            opened = _Scope(kw if kw in ("enum", "struct") else "other", name, public, 0)
        elif impl:
            opened = _Scope("impl", impl.group("name"), True, 0)
        elif scope and scope.kind == "struct" and scope.public and (f := _FIELD.match(line)):
            if doc:
                items.append(_item(f"rust:{scope.name}::{f.group('name')}", "rust-field",
                                   f.group("name"), rel, doc))
        elif scope and scope.kind == "enum" and scope.public and (v := _VARIANT.match(line)):
            if doc:
                items.append(_item(f"rust:{scope.name}::{v.group('name')}", "rust-variant",
                                   v.group("name"), rel, doc))
        doc = []
        for ch in code:
            if ch == "{":
                depth += 1
                if opened is not None:
                    opened.depth = depth
                    scopes.append(opened)
                    opened = None
            elif ch == "}":
                while scopes and scopes[-1].depth >= depth:
                    scopes.pop()
                depth -= 1
    return items


def _item(ident: str, kind: str, name: str, rel: str, doc: list[tuple[int, str]]) -> DocItem:
    parts: list[Part] = []
    section = "description"
    prose: list[tuple[int, str]] = []
    section_line = doc[0][0]
    examples = 0
    fence: list[tuple[int, str]] | None = None
    fence_line = 0

    def flush() -> None:
        sents = sentences(prose)
        if sents:
            parts.append(Part(section, section_line, sents))

    for lineno, text in doc:
        if text.lstrip().startswith("```"):
            if fence is None:
                fence, fence_line = [], lineno
            else:
                examples += 1
                comments = [(ln, c.split("//", 1)[1]) for ln, c in fence
                            if "//" in c and not c.lstrip().startswith("#")]
                parts.append(Part(f"example {examples}", fence_line, sentences(comments)))
                fence = None
            continue
        if fence is not None:
            fence.append((lineno, text))
            continue
        h = _HEADING.match(text.strip())
        if h:
            flush()
            section, section_line, prose = h.group("title").strip().lower(), lineno, []
            continue
        prose.append((lineno, text))
    flush()
    parts.sort(key=lambda p: p.line)
    return DocItem(id=ident, kind=kind, name=name, file=rel, line=doc[0][0],
                   end_line=doc[-1][0], parts=parts)
