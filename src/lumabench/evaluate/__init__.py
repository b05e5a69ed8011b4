"""Metrics and uncertainty decompositions; they see only predictions, never method internals."""
