"""Finding kernel trees for the native backend's own tests (never fetches)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.backends.base import BackendUnavailable
from harness.trees import ENV_SRC, kernels
from harness.trees.tree import KernelTree, inspect

VERSIONS = ("7.2", "6.12", "6.1")


def available_trees() -> dict[str, KernelTree]:
    """Backend name -> tree: ``native`` from $BUDDY_HARNESS_KERNEL_SRC, ``native@V`` cached."""
    out: dict[str, KernelTree] = {}
    src = os.environ.get(ENV_SRC)
    if src:
        try:
            out["native"] = inspect(Path(src))
        except BackendUnavailable:
            pass
    for v in VERSIONS:
        path = kernels.locate(v)
        if path:
            try:
                out[f"native@{v}"] = inspect(path)
            except BackendUnavailable:
                pass
    return out


def why_unavailable() -> str | None:
    """None if native tests can run here, else the reason to skip."""
    if shutil.which(os.environ.get("CC") or "gcc") is None:
        return "no C compiler (gcc) on PATH"
    if not available_trees():
        return (f"no kernel tree: set {ENV_SRC}=PATH or run `buddy-harness kernel fetch 7.2`")
    return None
