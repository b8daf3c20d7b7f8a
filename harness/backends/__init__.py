"""Backends: the reference model, the native C, and the binding layer over both."""
