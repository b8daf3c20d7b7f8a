"""What a kernel version looks like, and where the cache lives."""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_SRC = "BUDDY_HARNESS_KERNEL_SRC"  # the tree a plain ``native`` / ``rust`` name uses
VERSION = re.compile(r"^\d+\.\d+$")  # a kernel version as a backend or tree name gives it


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "buddy-harness"
