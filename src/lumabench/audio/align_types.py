"""What every aligner returns, so the cutting code does not depend on the aligner used."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordSpan:
    """One aligned word: its time span in seconds and the aligner's score (log scale, higher = better)."""

    word: str
    start_s: float
    end_s: float
    score: float


class AlignmentError(Exception):
    """A file could not be aligned (reported with its reason and skipped, never fatal)."""
