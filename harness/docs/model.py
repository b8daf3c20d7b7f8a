"""Documented items of a tree: what the extractors build and every report reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sentence:
    text: str  # whitespace-collapsed, comment markers gone
    line: int  # 1-based line of the file where it starts


@dataclass
class Part:
    """One piece of an item's documentation: its summary, a parameter, a section."""

    name: str  # "summary", "@mm", "description", "return", "example 1", ...
    line: int
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass
class DocItem:
    """A documented function, struct, macro, Rust item or field, with a stable id."""

    id: str  # e.g. gpu_buddy_alloc_blocks, struct gpu_buddy, rust:GpuBuddy::avail
    kind: str  # function, struct, macro, enum, doc; rust-module, rust-item, rust-field
    name: str
    file: str  # relative to the tree root
    line: int
    end_line: int
    parts: list[Part] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.parts)

    def sentences(self) -> list[tuple[Part, Sentence]]:
        return [(p, s) for p in self.parts for s in p.sentences]


@dataclass
class TreeDocs:
    """Every documented item of one tree, and the raw text of the files they came from."""

    label: str  # "7.2", or the path the user gave
    version: str  # the kernel release, e.g. 7.2.13 (from the tree's Makefile)
    root: Path
    api: str = "gpu_buddy"  # or drm_buddy (6.1)
    items: list[DocItem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # relative path -> text

    def by_id(self) -> dict[str, DocItem]:
        return {i.id: i for i in self.items}

    def in_file(self, rel: str) -> list[DocItem]:
        return [i for i in self.items if i.file == rel]
