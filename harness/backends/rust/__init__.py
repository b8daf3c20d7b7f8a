"""The Rust backend: the tree's own ``rust/kernel/gpu/buddy.rs``, built and run in user space.

Names: ``rust`` (the tree in ``--kernel-src`` or ``$BUDDY_HARNESS_KERNEL_SRC``),
``rust@VERSION`` (a fetched Debian tree, or a patched tree cached by
``kernel patch``) and ``rust@PATH``. The same tree's C is what ``native@`` runs.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.backends.rust import build as rust_build
from harness.backends.rust.backend import RustBackend
from harness.backends.rust.build import RustBuild, RustBuildError

__all__ = ["open_backend", "RustBackend", "RustBuild", "RustBuildError"]


def open_backend(name: str, *, kernel_src: str | None = None, timeout: float = 10.0,
                 log: Callable[[str], None] = print) -> RustBackend:
    """Open ``name`` (rust, rust@VERSION, rust@PATH); BackendUnavailable says what to do."""
    from harness.trees import resolve_tree

    tree = resolve_tree(name, kernel_src, log)
    b = rust_build.build(tree, log=log)
    if b.seconds:
        log(f"built the Rust binding of Linux {tree.version} in {b.seconds:.1f} s -> {b.dir}")
    return RustBackend(name, tree, b, timeout=timeout)
