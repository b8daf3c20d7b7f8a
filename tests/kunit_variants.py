"""Deliberately wrong versions of 7.2's buddy.c, for comparing KUnit verdicts with UML's.

Each is one plausible slip a reviewer could miss, written as (text, replacement) on
``drivers/gpu/buddy.c``; the same edit is made to a full tree for kunit.py on UML
(tests/records/kunit-uml/) and to a copy of the cached tree for the user-space run.
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


def apply(root: Path, variant: str) -> None:
    old, new = VARIANTS[variant]
    if not old:
        return
    path = root / BUDDY
    text = path.read_text()
    if text.count(old) != 1:
        raise ValueError(f"{variant}: its text is not once in {path}")
    path.write_text(text.replace(old, new))


def verdicts(ktap: str) -> dict[str, str]:
    """Case name -> ok / not ok / skip, from a KTAP log (kunit.py's raw output or ours)."""
    out = {}
    for line in ktap.splitlines():
        s = line.split("] ", 1)[-1] if line.startswith("[") else line
        if not s.startswith("    ") or s.startswith("        "):
            continue
        s = s.strip()
        for head, what in (("not ok ", "not ok"), ("ok ", "ok")):
            if s.startswith(head):
                rest = s[len(head):].split(" ", 1)
                if len(rest) == 2:
                    name, _, directive = rest[1].partition(" # ")
                    out[name.strip()] = "skip" if directive.startswith("SKIP") else what
                break
    return out
