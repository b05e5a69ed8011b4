"""Per-clip checks: readable, duration, silence, clipping, alignment score, closed-set recognition."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from lumabench.logs import progress
from lumabench.params import AudioFilter
from lumabench.pools import workers as pool_size
from lumabench.seeding import rng

CLIP_LEVEL = 0.999  # |sample| at or above this (full scale 1.0) counts as clipped


@dataclass(frozen=True)
class ClipStats:
    duration_s: float
    rms_dbfs: float
    clipped_fraction: float


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """A WAV/FLAC file as float64 mono in [-1, 1] and its sample rate."""
    data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return data.mean(axis=1), int(sr)


def measure(audio: np.ndarray, sample_rate: int) -> ClipStats:
    """Duration, RMS level in dBFS (a full-scale square wave is 0 dBFS) and clipped-sample fraction."""
    n = len(audio)
    rms = float(np.sqrt(np.mean(audio**2))) if n else 0.0
    dbfs = 20.0 * math.log10(rms) if rms > 0 else -math.inf
    clipped = float(np.mean(np.abs(audio) >= CLIP_LEVEL)) if n else 0.0
    return ClipStats(n / sample_rate if sample_rate else 0.0, dbfs, clipped)


def check_clip(stats: ClipStats, align_score: float | None, cfg: AudioFilter) -> tuple[str, str] | None:
    """(filter, reason) of the first signal check the clip fails, or None."""
    if not cfg.min_duration_s <= stats.duration_s <= cfg.max_duration_s:
        return "duration", f"{stats.duration_s:.3f} s (allowed {cfg.min_duration_s}-{cfg.max_duration_s} s)"
    if stats.rms_dbfs < cfg.min_rms_dbfs:
        return "silence", f"RMS {stats.rms_dbfs:.1f} dBFS (< {cfg.min_rms_dbfs} dBFS)"
    if stats.clipped_fraction > cfg.max_clipped_fraction:
        return "clipping", f"{stats.clipped_fraction:.2%} of samples clipped (> {cfg.max_clipped_fraction:.2%})"
    if align_score is None or math.isnan(align_score) or align_score < cfg.min_align_score:
        return "align_score", f"alignment score {align_score} (< {cfg.min_align_score})"
    return None


# ------------------------------------------------------------------ recognition, in worker processes
@dataclass(frozen=True)
class Heard:
    """What the recogniser heard in a clip, and whether that overrules the expected class.

    `confirmed` is true when the heard class is another class than the expected one and still wins
    the two-class decode that favours the expected class by the likelihood-ratio threshold.
    """

    word: str | None
    confirmed: bool = False


_RECOGNIZER = None


def _hear_one(item: tuple[str, str, str | None, int, float]) -> Heard:
    global _RECOGNIZER
    from lumabench.annotate.recognize import ClassWordRecognizer

    clip_id, path, expected, seed, log10_ratio = item
    if _RECOGNIZER is None:
        _RECOGNIZER = ClassWordRecognizer()
    audio, sr = read_mono(Path(path))
    data = _RECOGNIZER.pcm(audio, sr, rng(seed, "annotate", "recognize", clip_id))
    word = _RECOGNIZER.hear_pcm(data)
    if expected is None or word is None or word == expected:
        return Heard(word)
    return Heard(word, _RECOGNIZER.heard_despite(data, expected, word, log10_ratio))


def recognise(
    items: Sequence[tuple[str, Path, str | None]], seed: int, workers: int, log10_ratio: float = 0.0
) -> list[Heard]:
    """What each (clip_id, path, expected class or None) sounds like, in order; each result depends
    only on its clip, its expected class and the threshold."""
    jobs = [(cid, str(p), exp, seed, float(log10_ratio)) for cid, p, exp in items]
    n = pool_size(workers)
    if n == 1 or len(jobs) < 64:
        return [_hear_one(j) for j in progress(jobs, desc="annotate: recognition", unit="clip")]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        results = pool.map(_hear_one, jobs, chunksize=32)
        return list(progress(results, desc="annotate: recognition", total=len(jobs), unit="clip"))
