"""Compiled objects shared between builds, one per translation unit and its inputs.

After an edit to the allocator's C, only that file changes: rbtree.c, the
wrapper and the worker's main loop compile to the same objects as before.
Each unit's key hashes what every unit may include (the allocator's header,
``tools/include``, the shim, flags, compiler) plus the unit's own source, so
an edit recompiles exactly the units it can change.  Each object is sealed
(:mod:`harness.integrity`): a truncated or altered one is deleted and compiled
again, never linked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness import integrity, leftovers
from harness.backends.native import digests
from harness.cachedir import prune
from harness.trees.kernels import cache_root


def objects_dir() -> Path:
    return cache_root() / "build" / "objects"


def unit_keys(shared: list[Path], salt: str, units: dict[str, Path], store: str,
              known: Mapping[Path, str] | None = None) -> dict[str, str]:
    """Object name -> key, from the files every unit may include and each unit's source,
    by their digests: those in ``known`` (just taken for the build's key), the others
    from ``store`` of :mod:`harness.backends.native.digests`."""
    found = dict(known or {})
    todo = [p for p in dict.fromkeys([*shared, *units.values()]) if p not in found]
    found.update(zip(todo, digests.file_digests(todo, store)))
    common = hashlib.sha256(salt.encode())
    for p in shared:
        common.update(str(p.name).encode() + b"\0" + found[p].encode() + b"\0")
    keys = {}
    for obj, src in units.items():
        h = common.copy()
        h.update(obj.encode() + b"\0" + found[src].encode())
        keys[obj] = h.hexdigest()[:32]
    return keys


def restore(key: str, dest: Path) -> bool:
    """Put the cached object for ``key`` at ``dest``; False when there is none."""
    src = objects_dir() / f"{key}.o"
    if not src.exists():
        return False
    if integrity.file_problem(src) is not None:
        src.unlink(missing_ok=True)  # damaged: this build compiles it again and stores it
        return False
    try:
        shutil.copyfile(src, dest)
        os.utime(src)  # in use: the pruning keeps what was used last
        os.utime(src.with_name(src.name + integrity.SUFFIX))
    except OSError:
        return False
    return True


def store(key: str, obj: Path) -> None:
    """Keep ``obj`` for later builds (atomically: parallel builds may store the same key)."""
    d = objects_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=leftovers.prefix("obj"), dir=d)
        os.close(fd)
        shutil.copyfile(obj, tmp)
        os.replace(tmp, d / f"{key}.o")
        # A parallel store of the same key may land between the two: the check then fails
        # and the next build stores it again.
        integrity.seal_file(d / f"{key}.o")
    except OSError:
        pass  # a cache that cannot be written only costs a recompile
    prune(d, "*.o", keep=64)  # the units of a few trees and flag sets
    prune(d, f"*.o{integrity.SUFFIX}", keep=64)
