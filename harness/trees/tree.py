"""A kernel source tree as the native backend sees it: which allocator, which features.

Everything here is read from the tree itself (file layout, header macros and
prototypes), so a tree the harness has never seen is described correctly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness import fileio
from harness.backends.base import BackendUnavailable

# Where each allocator family lives in a tree.
LAYOUTS = {
    "gpu_buddy": ("drivers/gpu/buddy.c", "include/linux/gpu_buddy.h"),
    "drm_buddy": ("drivers/gpu/drm/drm_buddy.c", "include/drm/drm_buddy.h"),
}
# Also needed from every tree to build in user space.
SUPPORT = ("tools/include", "tools/lib/rbtree.c")
META = "buddy-harness.json"  # written by the fetcher next to a cached tree
# The type of each field a tree's META may hold; a field of another type makes it damaged.
META_FIELDS: dict[str, type] = {
    "version": str, "package": str, "deb": str, "layout": int, "fetched": str, "name": str,
    "base": str, "patch": dict, "changed": dict, "already_present": list, "patched": str}
MAX_META_BYTES = 1 << 20


@dataclass(frozen=True)
class KernelTree:
    root: Path
    version: str
    api: str  # gpu_buddy or drm_buddy
    source: Path
    header: Path
    features: frozenset[str]
    trim_start: bool  # block_trim takes a start offset
    package: str = ""  # Debian package version, for fetched trees

    @property
    def prefix(self) -> str:
        return "GPU_BUDDY" if self.api == "gpu_buddy" else "DRM_BUDDY"


def api_of(root: Path) -> str | None:
    """Which allocator ``root`` holds (the first layout whose source and header are there)."""
    return next((a for a, (s, h) in LAYOUTS.items()
                 if (root / s).is_file() and (root / h).is_file()), None)


def inspect(root: Path) -> KernelTree:
    """Describe the allocator in ``root``; BackendUnavailable if there is none to build."""
    root = Path(root)
    if not root.is_dir():
        raise BackendUnavailable(f"{root}: no such directory (give the root of a kernel tree)")
    api = api_of(root)
    if api is None:
        wanted = " or ".join(f"{s} + {h}" for s, h in LAYOUTS.values())
        raise BackendUnavailable(
            f"{root}: this kernel tree has no buddy allocator ({wanted} not found)")
    missing = [p for p in SUPPORT if not (root / p).exists()]
    if missing:
        raise BackendUnavailable(
            f"{root}: the tree lacks {', '.join(missing)}, needed to build the allocator "
            "in user space")
    source, header = (root / p for p in LAYOUTS[api])
    text = header.read_text(errors="replace")
    code = source.read_text(errors="replace")
    features, trim_start = _features(api, text, code)
    meta = _meta(root)
    package = meta.get("package", "")
    # A fetched tree knows its exact release from the package (7.2.13-1 -> 7.2.13).
    version = package.split("-")[0].split(":")[-1] if package else _version(root)
    return KernelTree(root, version, api, source, header, features, trim_start, package)


def _features(api: str, header: str, code: str) -> tuple[frozenset[str], bool]:
    p = "GPU_BUDDY" if api == "gpu_buddy" else "DRM_BUDDY"
    fn = api
    found = set()
    for feature, macro in (("contiguous", "CONTIGUOUS_ALLOCATION"), ("clear", "CLEAR_ALLOCATION"),
                           ("trim_disable", "TRIM_DISABLE")):
        if re.search(rf"#define\s+{p}_{macro}\b", header):
            found.add(feature)
    if re.search(rf"\b{fn}_block_trim\s*\(", header):
        found.add("trim")
    if re.search(rf"\b{fn}_reset_clear\s*\(", header):
        found.add("reset_clear")
    # Offset-aligned allocation keeps the largest alignment of each subtree in the block.
    if "subtree_max_alignment" in header and "offset_aligned" in code:
        found.add("offset_aligned")
    proto = re.search(rf"\b{fn}_block_trim\s*\(([^)]*)\)", header)
    trim_start = bool(proto and "*start" in proto.group(1))
    return frozenset(found), trim_start


def read_meta(root: Path) -> dict | None:
    """The tree's META as a mapping, or None when it is absent, unreadable, not JSON or of
    the wrong shape (a damaged file makes the tree one that is not cached, never a crash)."""
    try:
        meta = json.loads(fileio.read_input(root / META, MAX_META_BYTES))
    except (fileio.InputError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    for key, kind in META_FIELDS.items():
        if key in meta and (not isinstance(meta[key], kind) or isinstance(meta[key], bool)):
            return None
    return meta


def _meta(root: Path) -> dict:
    return read_meta(root) or {}


def _version(root: Path) -> str:
    """VERSION.PATCHLEVEL from the Makefile, else from a ``linux-source-X.Y`` name."""
    try:
        mk = (root / "Makefile").read_text(errors="replace")
        v = re.search(r"^VERSION\s*=\s*(\d+)", mk, re.M)
        p = re.search(r"^PATCHLEVEL\s*=\s*(\d+)", mk, re.M)
        s = re.search(r"^SUBLEVEL\s*=\s*(\d+)", mk, re.M)
        if v and p:
            return f"{v[1]}.{p[1]}" + (f".{s[1]}" if s and s[1] != "0" else "")
    except OSError:
        pass
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", root.resolve().name)
    return m[1] if m else "unknown"
