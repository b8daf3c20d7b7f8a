"""One module per CLI verb: ``run(ns) -> exit code``."""
