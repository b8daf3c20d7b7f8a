"""gcc on an edited allocator as soon as the command line names its tree.

``buddy-harness run --backend native@T`` after an edit to ``T``'s allocator spends its
first tenth of a second importing the verb's modules and parsing options before the
backend opens and gcc starts; gcc is then the longest step of the run.  So before any
of that, :func:`start` reads the command line the way the run verb will, and for each
native backend on a tree that is there (a path, ``--kernel-src``, or a version already
cached: nothing is fetched) starts the allocator's compile
(:func:`harness.backends.native.build.start_early`).  The build takes it only if it
is the very compile it would start itself (same source state, compiler, flags and
cache); one it does not take (a usage error, other options) is ended when the command
ends.

It is a guess and nothing more: it prints nothing, and any failure in it is ignored,
so the verb does and says what it always did.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def start(verb: str | None, argv: list[str]) -> None:
    try:
        if verb == "run":
            _start(argv)
    except Exception:  # the run itself meets (and words) whatever went wrong here
        pass


def finish() -> None:
    """End the compiles started here that no build took."""
    early = sys.modules.get("harness.backends.native.early")
    if early is not None:
        early.end_pending()


def option_values(argv: list[str], option: str) -> list[str]:
    """Every value of ``option`` (``--opt VALUE`` or ``--opt=VALUE``), in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == option and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith(option + "="):
            out.append(arg[len(option) + 1:])
    return out


def _start(argv: list[str]) -> None:
    from harness.backends.names import BackendRef

    native = [r for r in map(BackendRef, option_values(argv, "--backend"))
              if r.family == "native"]
    if not native:
        return
    from harness.backends.native import build, early
    from harness.trees.tree import inspect

    src = (option_values(argv, "--kernel-src") or [None])[-1]
    sanitize = "--native-sanitize" in argv
    for ref in dict.fromkeys(native):
        root = _root(ref.what, src)
        # An unedited tree (the source's state known) is left to the build: no more is read.
        if root is not None and early.source_new(root):
            root = _checked(ref.what, root)
            if root is not None:
                build.start_early(inspect(root), sanitize=sanitize)


def _root(what: str | None, kernel_src: str | None) -> Path | None:
    """Where the tree a native backend name designates is, when it is on disk."""
    from harness.trees.names import ENV_SRC, VERSION

    if what is None:
        src = kernel_src or os.environ.get(ENV_SRC)
        return Path(src).expanduser() if src else None
    if VERSION.match(what):
        from harness.trees import kernels

        return kernels.kernels_dir() / what
    path = Path(what).expanduser()
    return path if path.exists() else None


def _checked(what: str | None, root: Path) -> Path | None:
    """``root``, once a cached version's tree is found sound (never fetched from here)."""
    from harness.trees.names import VERSION

    if what is not None and VERSION.match(what):
        from harness.trees import kernels

        return kernels.locate(what)
    return root
