"""Loaded corpora kept between runs, keyed by every spec file's bytes and the loader's code.

Parsing, schema validation and semantic checks of the whole corpus cost more
than a rebuild of the allocator; in an edit loop the specs rarely change, so
the second run takes the cases from here.  Any change to a spec file, to the
set of files or to the code under ``harness/spec/`` is a different key.  Each
entry is sealed (:mod:`harness.integrity`): a truncated or altered one is
deleted and the corpus loaded afresh, never unpickled.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path

from harness import fileio, integrity
from harness.cachedir import prune
from harness.spec.loader import LoadResult, iter_spec_files, load_paths
from harness.spec.yamlpos import MAX_BYTES

_CODE = Path(__file__).parent


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "buddy-harness" / "specs"


def key(paths: Iterable[str | Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(_CODE.glob("*.py")) + [_CODE / "schema.json"]:
        h.update(p.read_bytes())
    for f in iter_spec_files(paths):
        h.update(f"\0{f}\0".encode() + fileio.read_input(f, MAX_BYTES))
    return h.hexdigest()[:32]


def load_paths_cached(paths: list[str | Path]) -> LoadResult:
    """What :func:`load_paths` returns, from the cache when nothing it reads has changed."""
    return load_paths_keyed(paths)[0]


def load_paths_keyed(paths: list[str | Path]) -> tuple[LoadResult, str | None]:
    """(what :func:`load_paths` returns, the corpus's key); the key is None when the files
    could not all be read, so nothing derived from them may be cached either."""
    try:
        k = key(paths)
    except fileio.InputError:
        return load_paths(paths), None  # unreadable or hostile files: the loader words the error
    path = cache_dir() / f"{k}.pickle"
    cached = _read(path)
    if cached is not None:
        return cached, k
    result = load_paths(paths)
    if result.errors:
        return result, k  # a corpus with mistakes is being edited: nothing worth keeping
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".specs-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        integrity.seal_file(path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass  # an unwritable cache only costs a reload
    prune(path.parent, "*.pickle")
    prune(path.parent, f"*.pickle{integrity.SUFFIX}")
    return result, k


def _read(path: Path) -> LoadResult | None:
    """The sealed corpus at ``path``; None (and the entry removed) if absent or damaged."""
    if not path.exists():
        return None
    if integrity.file_problem(path) is None:
        try:
            cached = pickle.loads(path.read_bytes())
            if isinstance(cached, LoadResult):
                return cached
        except Exception:  # from another harness's classes: load afresh
            pass
    for p in (path, path.with_name(path.name + integrity.SUFFIX)):
        p.unlink(missing_ok=True)
    return None
