"""Mutants listed as equivalent: ``harness/mutation/equivalent/<version>.yaml``.

Each entry maps a mutant id to why no test can tell it from the original.  The
file is kept true like the expectation files: an entry naming a mutant the
source no longer has, or one the run killed, is an error.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DIR = Path(__file__).with_name("equivalent")


def path_for(version: str) -> Path:
    return DIR / f"{version}.yaml"


def load(version: str) -> dict[str, str]:
    p = path_for(version)
    if not p.is_file():
        return {}
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                             for k, v in data.items()):
        raise ValueError(f"{p}:1:1: expected a map of mutant id to a non-empty reason")
    return data


def stale(listed: dict[str, str], ids: set[str], killed: set[str], version: str) -> list[str]:
    """One line per entry that is no longer true."""
    p = path_for(version)
    out = [f"{p}: {k}: names no mutant of this source (remove the entry)"
           for k in listed if k not in ids]
    out += [f"{p}: {k}: is killed now, so it is not equivalent (remove the entry)"
            for k in listed if k in killed]
    return out
