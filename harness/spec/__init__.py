"""Spec files: YAML with positions, expressions, schema and semantic checks."""

from harness.spec.position import Pos, SpecError

__all__ = ["LoadResult", "Pos", "SpecError", "iter_spec_files", "load_file", "load_paths"]
_FROM_LOADER = ("LoadResult", "iter_spec_files", "load_file", "load_paths")


def __getattr__(name: str):
    # The loader (its schema, semantic checks and YAML) is imported when first asked for, not
    # by every ``from harness.spec import yamlpos``.
    if name in _FROM_LOADER:
        from harness.spec import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'harness.spec' has no attribute {name!r}")
