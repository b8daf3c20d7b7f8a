"""``buddy-harness kernel fetch VERSION...`` and ``kernel list``."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from harness.backends.base import BackendUnavailable
from harness.backends.native import build
from harness.trees import kernels
from harness.trees.tree import inspect


def _err(msg: str) -> None:
    print(f"buddy-harness kernel: {msg}", file=sys.stderr)


def kernel_fetch(versions: list[str]) -> int:
    """Fetch linux-source-VERSION of each version into the cache (again, if it is there) and
    build it; several at once, side by side (downloads wait on the network, extraction and
    the build use a core each); 1 when any failed."""
    if len(versions) == 1:
        return _fetch_one(versions[0], "")
    with ThreadPoolExecutor(len(versions)) as pool:
        return max(pool.map(lambda v: _fetch_one(v, f"[{v}] "), versions))


def _fetch_one(version: str, tag: str) -> int:
    def log(m: str) -> None:
        print(f"{tag}{m}", file=sys.stderr, flush=True)

    try:
        path = kernels.fetch(version, log=log)
        tree = inspect(path)
        b = build.build(tree)
    except (kernels.FetchError, BackendUnavailable) as e:
        _err(f"{tag}{e}")
        return 1
    made = "cached" if b.cached else f"built in {b.seconds:.1f} s"
    print(f"{tree.version}\t{tree.package}\t{path}", flush=True)
    log(f"  {tree.api}: {', '.join(sorted(tree.features)) or 'no optional features'}; "
        f"library {made}")
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
