"""Spec files: YAML with positions, expressions, schema and semantic checks."""

from harness.spec.loader import LoadResult, iter_spec_files, load_file, load_paths
from harness.spec.position import Pos, SpecError

__all__ = ["LoadResult", "Pos", "SpecError", "iter_spec_files", "load_file", "load_paths"]
