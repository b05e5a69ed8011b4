"""Alignment accuracy against the synthesis engines' own word timings (reference only).

Engines disagree on where a word starts and ends when silence touches it (a stop closure, a pause
before the next word), so both spans are compared twice: as given, and after trimming edge silence
from each with the same rule the clip cutter uses. The trimmed comparison is the one that matters
for clips (a boundary anywhere inside silence yields the same clip).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from lumabench.audio.align_types import WordSpan
from lumabench.audio.clips import SAMPLE_RATE, active_bounds
from lumabench.audio.words import Token, tokenize

WITHIN_S = 0.05


@dataclass(frozen=True)
class BoundaryError:
    """Absolute start/end differences (seconds) for one class word, raw and after silence trimming."""

    group: str
    speaker: str
    word: str
    start: float
    end: float
    start_trimmed: float
    end_trimmed: float


def _ref_text(word: str) -> str | None:
    try:
        toks = tokenize(word)
    except ValueError:
        return None
    return "".join(t.text for t in toks) if toks else None


def reference_spans(tokens: list[Token], timings: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """Map token index -> reference (start_s, end_s), matching the k-th occurrence of each word."""
    by_text: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in timings:
        text = _ref_text(str(t["word"]))
        if text is not None and t["start_s"] is not None and t["end_s"] is not None:
            by_text[text].append((float(t["start_s"]), float(t["end_s"])))
    seen: dict[str, int] = defaultdict(int)
    out: dict[int, tuple[float, float]] = {}
    for tok in tokens:
        k = seen[tok.text]
        seen[tok.text] += 1
        if k < len(by_text.get(tok.text, [])):
            out[tok.index] = by_text[tok.text][k]
    return out


def _trim(audio: np.ndarray, start: float, end: float, top_db: float) -> tuple[float, float]:
    a = max(0, round(start * SAMPLE_RATE))
    b = min(len(audio), round(end * SAMPLE_RATE))
    if b <= a:
        return start, end
    lo, hi = active_bounds(audio[a:b], top_db)
    if hi <= lo:
        return start, end
    return (a + lo) / SAMPLE_RATE, (a + hi) / SAMPLE_RATE


def boundary_errors(
    group: str,
    speaker: str,
    audio: np.ndarray,
    tokens: list[Token],
    spans: list[WordSpan],
    timings: list[dict[str, Any]] | None,
    top_db: float,
) -> list[BoundaryError]:
    """Errors of the aligned class words against the reference timings (empty when there are none)."""
    if not timings:
        return []
    ref = reference_spans(tokens, timings)
    out = []
    for tok, span in zip(tokens, spans, strict=True):
        if tok.label is None or tok.index not in ref:
            continue
        r0, r1 = ref[tok.index]
        t0, t1 = _trim(audio, r0, r1, top_db)
        h0, h1 = _trim(audio, span.start_s, span.end_s, top_db)
        out.append(
            BoundaryError(
                group, speaker, tok.text, abs(span.start_s - r0), abs(span.end_s - r1), abs(h0 - t0), abs(h1 - t1)
            )
        )
    return out


def summarise(errors: list[BoundaryError], by: str = "group") -> dict[str, dict[str, float]]:
    """Per engine (`by="group"`, plus "all") or per speaker: words, mean absolute boundary error (ms)
    and share of boundaries within 50 ms, after trimming and as given ("raw_")."""
    groups: dict[str, list[BoundaryError]] = defaultdict(list)
    for e in errors:
        groups[getattr(e, by)].append(e)
    if errors and by == "group":
        groups["all"] = list(errors)
    out = {}
    for g in sorted(groups):
        raw = np.array([[e.start, e.end] for e in groups[g]]).ravel()
        trimmed = np.array([[e.start_trimmed, e.end_trimmed] for e in groups[g]]).ravel()
        out[g] = {
            "words": len(groups[g]),
            "mean_abs_ms": round(float(trimmed.mean()) * 1000, 2),
            "within_50ms": round(float((trimmed <= WITHIN_S).mean()), 4),
            "raw_mean_abs_ms": round(float(raw.mean()) * 1000, 2),
            "raw_within_50ms": round(float((raw <= WITHIN_S).mean()), 4),
        }
    return out
