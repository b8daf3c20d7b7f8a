"""Kernel trees: fetched (Debian's linux-source packages), on disk, or patched.

Every backend family reads its code from a tree; this package is the one place
that knows where trees live (the cache root), how a name designates one
(``VERSION``, ``PATH``, a patched tree's ``NAME``) and what a tree holds:

- :mod:`harness.trees.names`: the cache root and what a version looks like;
- :mod:`harness.trees.kernels`: fetching a version into the cache;
- :mod:`harness.trees.tree`: :class:`KernelTree`, what a tree on disk holds;
- :mod:`harness.trees.patched`: trees made by ``kernel patch``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from harness.backends.base import BackendUnavailable
from harness.backends.names import BackendRef
from harness.trees import kernels
from harness.trees.names import ENV_SRC, VERSION
from harness.trees.tree import KernelTree, inspect

__all__ = ["ENV_SRC", "VERSION", "KernelTree", "ensure_version", "inspect", "resolve_tree"]


def resolve_tree(name: str, kernel_src: str | None = None,
                 log: Callable[[str], None] = print) -> KernelTree:
    """The kernel tree a backend name designates, fetching a version on first use.

    Any family works (``native@X``, ``rust@X``): X is a version, else an existing
    path, else a tree made by ``kernel patch``.
    """
    ref = BackendRef(name)
    family, what = ref.family, ref.what
    if what is None:
        src = kernel_src or os.environ.get(ENV_SRC)
        if not src:
            raise BackendUnavailable(
                f"'{name}' needs a kernel tree: pass --kernel-src PATH or set "
                f"{ENV_SRC}, or name a version (--backend {name}@7.2 fetches Debian's "
                "linux-source-7.2 on first use)")
        return inspect(Path(src).expanduser())
    if VERSION.match(what):
        return inspect(ensure_version(what, log))
    path = Path(what).expanduser()
    if path.exists():
        return inspect(path)
    from harness.trees import patched as patched_trees  # the patch code only for its trees

    patched = patched_trees.locate(what)
    if patched is None:
        raise BackendUnavailable(f"{name}: {path} does not exist (give a kernel tree "
                                 f"directory, a version like {family}@7.2, or the NAME of "
                                 "`buddy-harness kernel patch NAME --onto VERSION FILE`)")
    return inspect(patched)


def ensure_version(version: str, log: Callable[[str], None] = print) -> Path:
    """The cached tree of ``version``, fetched now if it is not there yet (parallel test
    workers may all want it: one fetches, the rest wait for its tree)."""
    found = kernels.locate(version)
    if found:
        return found
    why = kernels.damage(kernels.kernels_dir() / version)
    if why:
        log(f"{why}: fetching linux-source-{version} again")
    else:
        log(f"kernel {version} is not cached yet: fetching linux-source-{version} "
            "(once; `buddy-harness kernel fetch` does it ahead of time)")
    try:
        return kernels.fetch(version, log, again=False)
    except kernels.FetchError as e:
        raise BackendUnavailable(f"native@{version}: {e}") from None
