"""Schema builds kept between runs of ``mutate``: the workers and what the build found.

Compiling the schema of every mutant (a syntax check, then the real compile of a
file many times the allocator's size) is the run's largest serial cost.  Its
output depends only on the allocator's source, the mutants chosen, the shim,
the tree's headers, the flags and the compiler, so a build is kept under a key
hashing all of them; a run whose inputs are unchanged takes the worker from the
cache.  Each entry is sealed (:mod:`harness.integrity`): a damaged one is
discarded and built again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from harness import integrity, leftovers
from harness.backends.native import build as nbuild
from harness.cachedir import prune
from harness.mutation import reach
from harness.trees.kernels import cache_root
from harness.trees.tree import KernelTree

META = "schema.json"
WORKERS = (nbuild.WORKER, reach.WORKER)  # as judged, and the one marking what items reach
VERSION = "1"  # bump when what a build holds changes meaning


def cache_dir() -> Path:
    return cache_root() / "build" / "schemata"


def key(tree: KernelTree, schema_text: str, fixed: list[Path], flags: list[str]) -> str:
    """What a schema build depends on: its text, the fixed units, headers, flags, compiler."""
    h = hashlib.sha256(f"{VERSION}\0{nbuild._compiler_id(nbuild.compiler())}\0"
                       f"{' '.join(flags)}\0".encode())
    h.update(schema_text.encode() + b"\0" + reach.RUNTIME.encode() + b"\0")
    for p in [tree.header, *nbuild._headers(tree), *fixed]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def restore(k: str, out: Path) -> tuple[dict[str, int], dict[str, str], int] | None:
    """Put the cached worker of key ``k`` in ``out``; (mutant numbers, the mutants that do
    not compile with their errors, how many are whole-function copies), or None."""
    d = cache_dir() / k
    if not integrity.usable(d):
        return None
    try:
        meta = json.loads((d / META).read_text(encoding="utf-8"))
        for worker in WORKERS:
            shutil.copy2(d / worker, out / worker)
        os.utime(d)  # in use: the pruning keeps what was used last
    except (OSError, ValueError):
        return None
    return meta["numbers"], meta["no_compile"], meta["copied"]


def store(k: str, out: Path, numbers: dict[str, int], no_compile: dict[str, str],
          copied: int) -> None:
    """Keep the worker built in ``out`` (atomically: parallel runs may store the same key)."""
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=leftovers.prefix("schema"), dir=root))
        try:
            for worker in WORKERS:
                shutil.copy2(out / worker, tmp / worker)
            (tmp / META).write_text(json.dumps({"numbers": numbers, "no_compile": no_compile,
                                                "copied": copied}), encoding="utf-8")
            integrity.publish(tmp, root / k)  # another run may have stored it first
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        return  # a cache that cannot be written only costs a compile
    prune(root, "[0-9a-f]*", keep=4)  # a few trees or mutant selections
