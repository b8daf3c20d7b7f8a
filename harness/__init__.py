"""Conformance harness for the Linux kernel's GPU buddy allocator."""

__version__ = "0.1.0"
