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
from collections.abc import Iterable
from pathlib import Path

from harness import fileio
from harness.cachedir import read_sealed, specs_dir, write_sealed
from harness.spec.loader import LoadResult, iter_spec_files, load_paths
from harness.spec.yamlpos import MAX_BYTES

_CODE = Path(__file__).parent


def cache_dir() -> Path:
    return specs_dir()


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
    cached = read_sealed(path)
    if isinstance(cached, LoadResult):
        return cached, k
    result = load_paths(paths)
    if result.errors:
        return result, k  # a corpus with mistakes is being edited: nothing worth keeping
    write_sealed(path, result)
    return result, k
