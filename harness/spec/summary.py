"""The corpus in figures, as ``check --summary`` prints them and ``docs/figures.md`` holds them
(a test keeps the page's copy equal to what the corpus says now)."""

from __future__ import annotations

from collections import Counter

from harness.spec.model import Case

BEGIN = "<!-- buddy-harness check specs --summary -->"
END = "<!-- end of check --summary -->"


def markdown(cases: list[Case]) -> str:
    items = sum(len(c.combinations()) for c in cases)
    kinds = Counter(c.source.kind for c in cases)
    layers = Counter(c.layer for c in cases)
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1],
                                                                                     kv[0])))
    by_layer = ", ".join(f"{layers[k]} {k} layer" for k in ("core", "binding") if layers[k])
    return "\n".join([
        BEGIN,
        f"- corpus: {len(cases)} cases, {items} parametrized items",
        f"- cases by source: {by_kind}",
        f"- cases by layer: {by_layer}",
        END,
    ])


def block_in(text: str) -> str | None:
    """The summary block a page holds, or None."""
    start, end = text.find(BEGIN), text.find(END)
    return None if start < 0 or end < start else text[start:end + len(END)]
