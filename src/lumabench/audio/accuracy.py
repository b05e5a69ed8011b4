"""Alignment accuracy against the synthesis engines' own word timings (reference only).

Engines disagree on where a word starts and ends when silence touches it (a stop closure, a pause
before the next word), so each boundary is compared twice: as given, and silence-insensitively, as
the amount of sound between the two boundaries. The latter is the one that matters for clips (a
boundary anywhere inside silence yields the same clip). It counts the 5 ms cells between the two
boundaries whose centred 10 ms frame lies within `top_db` of the reference word's loudest frame,
so both boundaries are judged on the same audio with the same threshold. Trimming each span on its
own instead is not a like-with-like comparison: an aligned start 5 ms inside the previous vowel
keeps the whole stop closure that follows it, while the reference span loses it, and a 5 ms
disagreement is scored as the 50 ms closure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from lumabench.audio.align_types import WordSpan
from lumabench.audio.clips import CELL_S, cell_db
from lumabench.audio.words import Token, tokenize

WITHIN_S = 0.05
_SOUND_FRAME_S = 0.01  # energy window per 5 ms cell: sound reaches only 2.5 ms into a silence


@dataclass(frozen=True)
class BoundaryError:
    """Absolute start/end differences (seconds) for one class word: raw, and counting only sound."""

    group: str
    speaker: str
    word: str
    start: float
    end: float
    start_trimmed: float
    end_trimmed: float


def _ref_parts(word: str, start: float, end: float) -> list[tuple[str, float, float]]:
    """A reference word as the tokens `tokenize` makes of it, with their share of its span.

    A compound ("x-ray") is one word in a corpus alignment but several tokens here; its span is shared
    among the parts in proportion to their letters. Parts are never cut as class words (compounds are
    not class words), so only the compound's outer edges matter, and those are exact.
    """
    try:
        toks = tokenize(word)
    except ValueError:
        return []
    if len(toks) <= 1:
        return [(t.text, start, end) for t in toks]
    letters = [max(1, len(t.text)) for t in toks]
    total, done, out = sum(letters), 0, []
    for t, n in zip(toks, letters, strict=True):
        a = start + (end - start) * done / total
        done += n
        out.append((t.text, a, end if done == total else start + (end - start) * done / total))
    return out


def reference_spans(tokens: list[Token], timings: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """Map token index -> reference (start_s, end_s), matching the k-th occurrence of each word."""
    by_text: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in timings:
        if t["start_s"] is None or t["end_s"] is None:
            continue
        for text, a, b in _ref_parts(str(t["word"]), float(t["start_s"]), float(t["end_s"])):
            by_text[text].append((a, b))
    seen: dict[str, int] = defaultdict(int)
    out: dict[int, tuple[float, float]] = {}
    for tok in tokens:
        k = seen[tok.text]
        seen[tok.text] += 1
        if k < len(by_text.get(tok.text, [])):
            out[tok.index] = by_text[tok.text][k]
    return out


def sound_between(cells: np.ndarray, a: float, b: float, floor_db: float) -> float:
    """Seconds of sound (cells louder than `floor_db`) whose centre lies between times a and b."""
    lo, hi = sorted((a, b))
    i = max(0, int(np.ceil(lo / CELL_S - 0.5)))
    j = min(len(cells), int(np.ceil(hi / CELL_S - 0.5)))
    return float(np.count_nonzero(cells[i:j] > floor_db)) * CELL_S if j > i else 0.0


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
    cells = cell_db(audio, _SOUND_FRAME_S)
    out = []
    for tok, span in zip(tokens, spans, strict=True):
        if tok.label is None or tok.index not in ref:
            continue
        r0, r1 = ref[tok.index]
        word = cells[max(0, int(r0 / CELL_S)) : max(int(r0 / CELL_S) + 1, int(np.ceil(r1 / CELL_S)))]
        floor = (float(word.max()) if len(word) else -np.inf) - top_db
        out.append(
            BoundaryError(
                group,
                speaker,
                tok.text,
                abs(span.start_s - r0),
                abs(span.end_s - r1),
                sound_between(cells, span.start_s, r0, floor),
                sound_between(cells, span.end_s, r1, floor),
            )
        )
    return out


def summarise(errors: list[BoundaryError], by: str = "group") -> dict[str, dict[str, float]]:
    """Per engine (`by="group"`, plus "all") or per speaker: words, mean absolute boundary error (ms)
    and share of boundaries within 50 ms, counting only sound and as given ("raw_")."""
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
