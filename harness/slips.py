"""Deliberately wrong versions of 7.2's buddy.c: one plausible slip each, a reviewer could miss.

Written as (text, replacement) on ``drivers/gpu/buddy.c``.  ``bench --edit-to-verdict``
times the loop after each, as an edit that changes what the C does; the tests compare the
KUnit verdicts of each with kunit.py's on UML (``tests/records/kunit-uml/``).
"""

from __future__ import annotations

from pathlib import Path

BUDDY = "drivers/gpu/buddy.c"

VARIANTS: dict[str, tuple[str, str]] = {
    "unmodified": ("", ""),
    # Oversized CONTIGUOUS requests no longer fall back to assembling a run.
    "no-try-harder": ("\t\tif ((flags & GPU_BUDDY_CONTIGUOUS_ALLOCATION) &&\n"
                      "\t\t    !(flags & GPU_BUDDY_RANGE_ALLOCATION))\n",
                      "\t\tif ((flags & GPU_BUDDY_CONTIGUOUS_ALLOCATION) &&\n"
                      "\t\t    (flags & GPU_BUDDY_RANGE_ALLOCATION))\n"),
    # Freeing a cleared block forgets to give its size back to clear_avail.
    "free-forgets-clear": ("\tif (gpu_buddy_block_is_clear(block))\n"
                           "\t\tmm->clear_avail += gpu_buddy_block_size(mm, block);\n\n"
                           "\t__gpu_buddy_free(mm, block, false);\n",
                           "\t__gpu_buddy_free(mm, block, false);\n"),
    # A request of the largest order is taken for one too large.
    "max-order-off-by-one": ("\tif (order > mm->max_order || size > mm->size) {\n",
                             "\tif (order >= mm->max_order || size > mm->size) {\n"),
}


def slipped(text: str, variant: str) -> str | None:
    """``text`` (a buddy.c) with ``variant``'s slip, or None where its text is not once."""
    old, new = VARIANTS[variant]
    if not old:
        return text
    return text.replace(old, new) if text.count(old) == 1 else None


def apply(root: Path, variant: str) -> None:
    path = root / BUDDY
    text = slipped(path.read_text(), variant)
    if text is None:
        raise ValueError(f"{variant}: its text is not once in {path}")
    path.write_text(text)
