"""Divergence between backends: trace comparison, the corpus matrix, differential fuzzing."""
