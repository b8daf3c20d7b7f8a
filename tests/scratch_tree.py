"""A scratch copy of a cached kernel tree, as a developer's own tree (skips without one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends.native.testing import why_unavailable
from harness.trees import kernels


def cached_tree(version: str = "7.2") -> Path:
    skip = why_unavailable()
    src = kernels.locate(version)
    if skip or src is None:
        pytest.skip(skip or f"Linux {version} is not cached (buddy-harness kernel fetch "
                            f"{version})")
    return src


def copy_tree(tmp_path: Path, version: str = "7.2") -> Path:
    """A copy of the cached tree under ``tmp_path`` (``cp -r``: links stay links)."""
    dst = tmp_path / "linux"
    shutil.copytree(cached_tree(version), dst, symlinks=True)
    return dst
