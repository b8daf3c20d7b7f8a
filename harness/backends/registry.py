"""Backend names understood everywhere: reference, native[@VERSION|PATH|NAME], rust[@...]."""

from __future__ import annotations

from collections.abc import Callable

from harness.backends.base import BackendUnavailable, CoreBackend


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
