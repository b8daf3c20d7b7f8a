"""Mutation testing of the allocator's C: mutants, building and judging them, reports."""
