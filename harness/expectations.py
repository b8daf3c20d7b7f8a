"""Per-backend known divergences: ``specs/expectations/<backend>.yaml``.

Each file maps a case id, or ``id[param-id]``, to the reason it is known to
fail on that backend.  A listed case runs as a strict expected failure: if it
passes, the run says so (``xpass``) and counts it against the run, so the
file stays true.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cachedir import read_sealed, specs_dir, write_sealed
from harness.spec.position import Pos, SpecError

if TYPE_CHECKING:
    import yaml

EXPECTATIONS_DIR = "expectations"


@dataclass
class Expectations:
    backend: str
    entries: dict[str, str] = field(default_factory=dict)  # key -> reason
    where: dict[str, Pos] = field(default_factory=dict)

    def reason(self, case_id: str, params: str) -> str | None:
        """The listed reason for this (case, params), the exact param entry first."""
        if params and f"{case_id}[{params}]" in self.entries:
            return self.entries[f"{case_id}[{params}]"]
        return self.entries.get(case_id)

    def stale(self, known: set[tuple[str, str]]) -> list[str]:
        """Entries naming no loaded case or params combination: ``FILE:LINE: message``."""
        ids = {cid for cid, _ in known}
        out = []
        for key in self.entries:
            cid, _, rest = key.partition("[")
            if cid not in ids or (rest and (cid, rest[:-1]) not in known):
                out.append(f"{self.where[key]}: '{key}' names no loaded case "
                           f"(remove it from the {self.backend} expectations)")
        return out


def file_for(specs_root: Path, backend: str) -> Path:
    return specs_root / EXPECTATIONS_DIR / f"{backend}.yaml"


def load(specs_roots: list[Path], backend: str) -> Expectations:
    """Merge the expectation files of ``backend`` found under each specs root.

    A backend on a patched tree (``native@v12.1``) first takes its base's file
    (``native@7.2.yaml``): the code the patch left alone fails as it does there.
    Its own file then adds entries, or replaces the reason of an inherited one.
    """
    from harness.trees.patched import base_of

    exp = Expectations(backend)
    for name in filter(None, (base_of(backend), backend)):
        own = Expectations(name)
        for root in specs_roots:
            path = file_for(Path(root), name)
            if path.is_file():
                _load_file(path, own)
        exp.entries.update(own.entries)
        exp.where.update(own.where)
    return exp


def _load_file(path: Path, exp: Expectations) -> None:
    entries, problem = _entries(path)
    for key, reason, where in entries:  # in file order: the first mistake is the one said
        if key in exp.entries:
            raise SpecError(where, f"'{key}' is listed twice (first at {exp.where[key]})")
        exp.entries[key] = reason
        exp.where[key] = where
    if problem is not None:
        raise problem


Entry = tuple[str, str, Pos]  # (case id, reason, where)


def _entries(path: Path) -> tuple[list[Entry], SpecError | None]:
    """The entries of one file up to its first mistake, and that mistake; a file without one
    is kept (sealed) by its bytes and this module's code, as YAML's pure-Python parser is a
    good part of a run's start."""
    from harness.spec import yamlpos  # YAML's modules only when a file is read

    data = yamlpos.read(path)
    h = hashlib.sha256(f"{path}\0".encode() + data + b"\0" + Path(__file__).read_bytes())
    kept = specs_dir() / f"{h.hexdigest()[:32]}.expect"
    cached = read_sealed(kept)
    if isinstance(cached, list):
        return cached, None
    entries, problem = _parse(path, data)
    if problem is None:
        write_sealed(kept, entries)
    return entries, problem


def _parse(path: Path, data: bytes) -> tuple[list[Entry], SpecError | None]:
    import yaml

    out: list[Entry] = []
    try:
        node = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(e, "problem", e)
        raise SpecError(Pos(str(path), line, col), f"invalid YAML: {problem}") from None
    except UnicodeDecodeError as e:
        raise SpecError(Pos(str(path), 1, 1), f"not UTF-8 text ({e.reason})") from None
    if node is None:
        return out, None
    if not isinstance(node, yaml.MappingNode):
        raise SpecError(_pos(path, node), "an expectations file maps case ids to reasons",
                        "write `case.id: why it fails on this backend`")
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
            return out, SpecError(_pos(path, key), "expected a case id as key")
        if not isinstance(value, yaml.ScalarNode) or not value.value.strip():
            return out, SpecError(_pos(path, value), f"'{key.value}' needs a one-line reason")
        out.append((key.value, value.value.strip(), _pos(path, key)))
    return out, None


def _pos(path: Path, node: yaml.Node) -> Pos:
    return Pos(str(path), node.start_mark.line + 1, node.start_mark.column + 1)


def apply(status: str, reason: str | None, message: str) -> tuple[str, str]:
    """Turn a raw outcome into its final form given the listed reason, if any."""
    if reason is None:
        return status, message
    if status in ("fail", "crash"):
        return "xfail", f"{reason} ({status}: {message})"
    if status == "pass":
        return "xpass", f"listed as failing ({reason}) but passed: remove the entry"
    return status, message
