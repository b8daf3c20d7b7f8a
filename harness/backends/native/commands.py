"""``buddy-harness kernel fetch VERSION`` and ``kernel list``."""

from __future__ import annotations

import sys

from harness.backends.base import BackendUnavailable
from harness.backends.native import build
from harness.trees import kernels
from harness.trees.tree import inspect


def _err(msg: str) -> None:
    print(f"buddy-harness kernel: {msg}", file=sys.stderr)


def kernel_fetch(version: str) -> int:
    """Fetch linux-source-VERSION into the cache (again, if it is there) and build it."""
    try:
        path = kernels.fetch(version, log=lambda m: print(m, file=sys.stderr))
        tree = inspect(path)
        b = build.build(tree)
    except kernels.FetchError as e:
        _err(str(e))
        return 1
    except BackendUnavailable as e:
        _err(str(e))
        return 1
    made = "cached" if b.cached else f"built in {b.seconds:.1f} s"
    print(f"{tree.version}\t{tree.package}\t{path}")
    print(f"  {tree.api}: {', '.join(sorted(tree.features)) or 'no optional features'}; "
          f"library {made}", file=sys.stderr)
    return 0


def kernel_list() -> int:
    from harness.patching.command import list_patched

    found = kernels.cached()
    if not found:
        print(f"no kernel trees cached under {kernels.kernels_dir()} "
              "(buddy-harness kernel fetch 7.2)", file=sys.stderr)
        list_patched()
        return 0
    for c in found:
        try:
            t = inspect(c.path)
            what = f"{t.api} [{', '.join(sorted(t.features))}]"
        except BackendUnavailable as e:
            what = f"unusable: {e}"
        print(f"{c.version}\t{c.package}\t{c.path}\t{what}")
    list_patched()
    return 0
