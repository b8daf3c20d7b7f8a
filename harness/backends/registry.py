"""Backend names understood everywhere: reference, native[@VERSION|PATH|NAME], rust[@...]."""

from __future__ import annotations

from collections.abc import Callable

from harness.backends.base import BackendUnavailable, CoreBackend

# A backend name is reference, or a family of the kernel's code alone (its tree from
# --kernel-src) or as FAMILY@WHAT (a kernel version, a tree's path or a patched tree's name).
FAMILIES = ("native", "rust")
PLAIN_NAMES = ("reference", *FAMILIES)
# Names a plugin makes resolvable besides these (tests/miniatures.py's deliberately wrong
# backends); checked as known names.
extra_names: set[str] = set()


def name_problem(name: str) -> str | None:
    """What is wrong with a backend name, judged by its family alone; None if nothing.

    Whether the backend can be opened (a tree exists, a compiler works) is for
    :func:`resolve`; this only refuses what no backend could be, at parse time.
    """
    family, at, what = name.partition("@")
    if name in PLAIN_NAMES or name in extra_names or (family in FAMILIES and at and what):
        return None
    if family in FAMILIES and at:
        return f"backend '{name}' names no version or path after '@' (e.g. {family}@7.2)"
    forms = ", ".join(("reference",) + tuple(f"{f}, {f}@VERSION, {f}@PATH" for f in FAMILIES))
    return f"unknown backend '{name}' (use {forms})"


def resolve(
    name: str,
    *,
    kernel_src: str | None = None,
    sanitize: bool = False,
    timeout: float = 10.0,
    log: Callable[[str], None] = print,
) -> CoreBackend:
    """Open the backend ``name``; raises BackendUnavailable with what to do."""
    if name == "reference":
        from harness.backends.reference import ReferenceBackend

        return ReferenceBackend()
    if name == "native" or name.startswith("native@"):
        try:
            from harness.backends.native import open_backend
        except ImportError as e:  # pragma: no cover - only while the package is incomplete
            raise BackendUnavailable(
                f"{name}: the native backend cannot be loaded ({e})") from None
        return open_backend(name, kernel_src=kernel_src, sanitize=sanitize, timeout=timeout,
                            log=log)
    if name == "rust" or name.startswith("rust@"):
        from harness.backends.rust import open_backend as open_rust

        return open_rust(name, kernel_src=kernel_src, timeout=timeout, log=log)
    raise BackendUnavailable(
        f"unknown backend '{name}' (use reference, native, native@VERSION, native@PATH, "
        "native@NAME of a patched tree, or rust with the same forms)"
    )
