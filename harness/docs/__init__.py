"""Documentation as data: the kernel-doc and rustdoc of a tree, quotes, coverage, drift."""
