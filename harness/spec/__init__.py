"""Spec files: YAML with positions, expressions, schema and semantic checks."""
