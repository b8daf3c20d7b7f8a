"""``buddy-harness kernel patch NAME --onto VERSION FILE`` and the patched rows of ``kernel list``.

Exit 0 when the tree is cached; 2 when it is not (a bad NAME, a base that is
not fetched, an unreadable patch, a hunk that does not apply): one line on
stderr, and nothing cached.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.options import printable
from harness.patching.parse import PatchError
from harness.trees import patched as trees

NOT_APPLIED = 2


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def kernel_patch(name: str, onto: str, file: str) -> int:
    t0 = time.monotonic()
    try:
        tree, res, patch = trees.make(name, onto, Path(file), log=_say)
    except PatchError as e:
        _say(printable(f"buddy-harness kernel patch: {e} (nothing cached)"))
        return NOT_APPLIED
    for note in [f"read {Path(file).name} as a {patch.form}" if not patch.form.startswith(
            "quoted") else "", *patch.notes, *res.notes]:
        if note:
            _say(f"  {note}")
    _say(f"  {_changes(tree.changed)}; {len(res.already)} already present; "
         f"{time.monotonic() - t0:.2f} s")
    print(f"{tree.name}\t{tree.package}\t{tree.path}\t{tree.patch} onto {tree.base}")
    return 0


def list_patched() -> int:
    """Print one row per patched tree (as ``kernel list`` does for fetched ones)."""
    found = trees.cached()
    for p in found:
        print(f"{p.name}\t{p.package}\t{p.path}\t{p.patch} onto {p.base} "
              f"(sha256 {p.sha256[:12]}): {_changes(p.changed)}")
    return len(found)


def _changes(changed: dict[str, list[str]]) -> str:
    parts = [f"{kind} {', '.join(paths)}" for kind, paths in changed.items() if paths]
    return "; ".join(parts) or "no file changed"
