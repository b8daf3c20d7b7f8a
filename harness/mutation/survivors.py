"""Survivors accepted with a reason: ``harness/mutation/survivors/<version>.yaml``.

Each entry maps a mutant id to ``{kind, reason}``.  ``equivalent``: no program
can tell the mutant from the original (the reason says why).  ``needs-fault-
injection``: the mutant changes code that runs only when a block structure cannot
be allocated, which no case can reach until the shim can fail allocations.
``hidden-by-shim``: the user-space shim hides the change (its kmalloc returns
zeroed memory; only block structures are counted for leaks).  ``open``: not yet
killed, the reason says what would kill it.  These count against the score.  The
file is kept true like the expectation files: an entry naming a mutant the source
no longer has, or one the run killed, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DIR = Path(__file__).with_name("survivors")
KINDS = ("equivalent", "needs-fault-injection", "hidden-by-shim", "open")


@dataclass(frozen=True)
class Entry:
    kind: str
    reason: str


def path_for(version: str) -> Path:
    """The file of a kernel version (7.2.13 and 7.2 share 7.2.yaml)."""
    return DIR / f"{'.'.join(version.split('.')[:2])}.yaml"


def load(version: str) -> dict[str, Entry]:
    p = path_for(version)
    return load_file(p) if p.is_file() else {}


def load_file(p: Path) -> dict[str, Entry]:
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    out: dict[str, Entry] = {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}:1:1: expected a map of mutant id to {{kind, reason}}")
    for k, v in data.items():
        if not (isinstance(v, dict) and v.get("kind") in KINDS and isinstance(v.get("reason"), str)
                and v["reason"].strip() and set(v) == {"kind", "reason"}):
            raise ValueError(f"{p}: {k}: needs kind ({' or '.join(KINDS)}) and a reason")
        out[str(k)] = Entry(v["kind"], v["reason"])
    return out


def stale(listed: dict[str, Entry], ids: set[str], killed: set[str], path: Path) -> list[str]:
    """One line per entry that is no longer true."""
    out = [f"{path}: {k}: names no mutant of this source (remove the entry)"
           for k in listed if k not in ids]
    out += [f"{path}: {k}: is killed now, so it is no longer a survivor (remove the entry)"
            for k in listed if k in killed]
    return out
