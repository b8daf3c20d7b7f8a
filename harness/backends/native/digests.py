"""What a build's key is made of, remembered across processes: file digests and the compiler.

Every run hashes the kernel tree's headers (``tools/include``, a few hundred files)
and asks the compiler who it is (``gcc --version``, a process) before gcc can start
on the allocator; after an edit, only the edited file has changed.  As ccache's
"direct mode" does, a file's digest is kept with the file's state (device, inode,
size, mtime and ctime in nanoseconds) and reused while that state is unchanged;
the compiler's identity is kept with the state of the binary its name resolves
to, as ccache's ``compiler_check=mtime`` does.

Safe against a cache that lies by accident:

- a file whose state differs in any field is read again (ctime cannot be set
  back by ``touch``; an edit in place keeps the inode but moves ctime);
- a file changed within the last :data:`RACY` seconds is read but not remembered:
  a second edit within the filesystem's timestamp granularity could leave its
  state as it was (git's "racily clean" entries);
- each store is sealed (:func:`harness.cachedir.write_sealed`): a truncated,
  altered or unloadable one is deleted and everything read again;
- entries of the wrong shape are ignored, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.cachedir import read_sealed, write_sealed
from harness.trees.names import cache_root

RACY = 2.0  # seconds: coarser than any Linux filesystem's timestamps but FAT's mtime

State = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns

_lock = threading.Lock()  # backends open on threads of their own
_stores: dict[Path, dict] = {}  # what each store file holds, read once per process


def state(st: os.stat_result) -> State:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled(st: os.stat_result, now: float | None = None) -> bool:
    """Unchanged for :data:`RACY` seconds: a later edit would show in its state."""
    newest = max(st.st_mtime_ns, st.st_ctime_ns) / 1e9
    return newest < (time.time() if now is None else now) - RACY


def store_dir() -> Path:
    return cache_root() / "digests"


def _store(path: Path) -> dict:
    if path not in _stores:
        data = read_sealed(path)
        _stores[path] = dict(data) if isinstance(data, dict) else {}
    return _stores[path]


def _where(store: str) -> Path:
    return store_dir() / "files" / f"{hashlib.sha256(store.encode()).hexdigest()[:32]}.pickle"


def _valid(got: object, now: State) -> str | None:
    """The digest of an entry made for this very state, else None (a wrong shape included)."""
    if isinstance(got, tuple) and len(got) == 2 and got[0] == now and isinstance(got[1], str):
        return got[1]
    return None


def remembered(p: Path, now: State, store: str) -> bool:
    """``store`` holds a digest of ``p`` in the state ``now``."""
    with _lock:
        return _valid(_store(_where(store)).get(str(p)), now) is not None


def file_digests(paths: Sequence[Path], store: str) -> list[str]:
    """The SHA-256 of each file's bytes, in order; ``store`` names where they are kept
    (one per tree: a handful of stores, each a few hundred entries)."""
    where = _where(store)
    out: list[str] = []
    with _lock:
        known = _store(where)
        learnt = False
        now = time.time()
        for p in paths:
            st = os.stat(p)
            digest = _valid(known.get(str(p)), state(st))
            if digest is not None:
                out.append(digest)
                continue
            digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            out.append(digest)
            if settled(st, now):
                known[str(p)] = (state(st), digest)
                learnt = True
            else:
                known.pop(str(p), None)
        if learnt:
            write_sealed(where, known)
    return out


def compiler_identity(cc: str, probe: Callable[[str], str | None]) -> str:
    """``probe(cc)``, what the compiler says it is (``cc`` itself when it cannot say, which is
    not remembered), kept by the state of the binary ``cc`` resolves to on the PATH."""
    exe = shutil.which(cc)
    try:
        real = os.path.realpath(exe) if exe else None
        st = os.stat(real) if real else None
    except OSError:
        st = None
    if real is None or st is None:
        return probe(cc) or cc
    where = store_dir() / "compilers.pickle"
    key = (cc, real, state(st))
    with _lock:
        known = _store(where)
        got = known.get(key)
        if isinstance(got, str):
            return got
    ident = probe(cc)
    if ident is None:
        return cc
    if settled(st):
        with _lock:
            known[key] = ident
            write_sealed(where, known)
    return ident


def version_line(cc: str) -> str | None:
    """The first line of ``cc --version``; None when it cannot be run."""
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        return None
