"""Small helpers shared by the harness's own tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.spec.loader import load_file
from harness.spec.model import Case


def write_spec(dir: Path, name: str, text: str) -> Path:
    path = dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_one(dir: Path, text: str, name: str = "case.yaml") -> Case:
    (case,) = load_file(write_spec(dir, name, text))
    return case
