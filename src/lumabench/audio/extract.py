"""Extract class-word clips from transcribed speech: tokenise, align, cut, trim, normalise.

Work is spread over a process pool whose initializer loads the aligner once per worker; every
random draw (the aligner's noise floor) comes from the file's own seed, so the output does not
depend on the number of workers or the order files finish in.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lumabench.audio.accuracy import BoundaryError, boundary_errors, reference_spans
from lumabench.audio.align_types import AlignmentError, WordSpan
from lumabench.audio.clips import SourceError, cut_clip, read_mono, wav_bytes
from lumabench.audio.words import Token, tokenize
from lumabench.logs import progress
from lumabench.params import SAMPLE_RATE
from lumabench.pools import ordered_map
from lumabench.seeding import rng

log = logging.getLogger("lumabench.audio")


@dataclass(frozen=True)
class Job:
    """One speech file to process."""

    source_path: str
    abs_path: str
    transcript: str
    corpus: str
    speaker: str
    group: str
    timings: list[dict[str, Any]] | None


@dataclass(frozen=True)
class Settings:
    """What a worker needs besides the job (picklable)."""

    seed: int
    aligner: str
    aligner_model: str
    model_dir: str
    margin_s: float
    min_duration_s: float
    max_duration_s: float
    loudness_dbfs: float
    trim_db: float
    timings_from: tuple[str, ...] = ()
    max_align_s: float = 120.0


@dataclass
class Result:
    """Clips cut from one file, or why the file was skipped."""

    source_path: str
    group: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    wavs: list[bytes] = field(default_factory=list)
    failure: str | None = None
    no_class_word: bool = False
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[BoundaryError] = field(default_factory=list)


def make_aligner(settings: Settings) -> Any:
    """The configured aligner, loaded."""
    if settings.aligner == "ctc":
        from lumabench.audio.align_ctc import CtcAligner

        return CtcAligner(settings.aligner_model, Path(settings.model_dir))
    from lumabench.audio.align_sphinx import SphinxAligner

    return SphinxAligner()


def clip_id(label: str, source_path: str, token_index: int) -> str:
    """Stable id: class, a digest of the source path, and the word's position in the transcript."""
    digest = hashlib.sha256(source_path.encode("utf-8")).hexdigest()[:12]
    return f"{label}-{digest}-{token_index:03d}"


def process(job: Job, settings: Settings, aligner: Any) -> Result:
    """Align one file and cut its class words; every expected failure becomes `Result.failure`.

    Corpora listed in `audio.word_timings_from` ship their own word alignment (LibriSpeech,
    Spoken Wikipedia); where it covers the whole transcript it is used as is, else the file is aligned.
    """
    result = Result(job.source_path, job.group)
    try:
        tokens = tokenize(job.transcript or "")
    except ValueError as exc:
        result.failure = str(exc)
        return result
    if not any(t.label for t in tokens):
        result.no_class_word = True
        return result
    try:
        audio = read_mono(Path(job.abs_path))
    except SourceError as exc:
        result.failure = str(exc)
        return result
    words = [t.text for t in tokens]
    shipped = shipped_spans(tokens, job.timings) if job.corpus in settings.timings_from else None
    if shipped is not None:  # the corpus's own alignment: cut with it, nothing to compare against
        return _cut(job, settings, audio, tokens, shipped, result)
    seconds = len(audio) / SAMPLE_RATE
    if seconds > settings.max_align_s:  # an hour-long article would exhaust the aligner's memory
        result.failure = (
            f"{seconds:.0f} s is longer than audio.max_align_s = {settings.max_align_s:g} s and has no usable "
            "shipped word timings"
        )
        return result
    try:
        spans = aligner.align(audio, words, rng(settings.seed, "audio", "align", job.source_path))
    except AlignmentError as exc:
        result.failure = f"alignment failed: {exc}"
        return result
    except (RuntimeError, ValueError, MemoryError) as exc:  # a damaged file must not stop the stage
        result.failure = f"alignment failed: {type(exc).__name__}: {exc}"
        return result
    result.errors = boundary_errors(job.group, job.speaker, audio, tokens, spans, job.timings, settings.trim_db)
    return _cut(job, settings, audio, tokens, spans, result)


def shipped_spans(tokens: list[Token], timings: list[dict[str, Any]] | None) -> list[WordSpan] | None:
    """Word spans from a corpus's shipped alignment, if it covers every word of the transcript."""
    if not timings:
        return None
    ref = reference_spans(tokens, timings)
    if len(ref) != len(tokens):
        return None
    return [WordSpan(t.text, ref[t.index][0], ref[t.index][1], 0.0) for t in tokens]


def _cut(
    job: Job, settings: Settings, audio: np.ndarray, tokens: list[Token], spans: list[WordSpan], result: Result
) -> Result:
    """Cut, trim and normalise each class word; the margin stops at the neighbouring words."""
    for i, (tok, span) in enumerate(zip(tokens, spans, strict=True)):
        if tok.label is None:
            continue
        floor = spans[i - 1].end_s if i > 0 else 0.0
        ceiling = spans[i + 1].start_s if i + 1 < len(spans) else float("inf")
        clip = cut_clip(
            audio, span.start_s, span.end_s, settings.margin_s, settings.trim_db, settings.loudness_dbfs, floor, ceiling
        )
        if clip is None:
            result.dropped["silent"] += 1
            continue
        if clip.duration_s < settings.min_duration_s:
            result.dropped["shorter than audio.min_duration_s"] += 1
            continue
        if clip.duration_s > settings.max_duration_s:
            result.dropped["longer than audio.max_duration_s"] += 1
            continue
        result.rows.append(
            {
                "clip_id": clip_id(tok.label, job.source_path, tok.index),
                "label": tok.label,
                "corpus": job.corpus,
                "speaker": job.speaker,
                "source_path": job.source_path,
                "start_s": round(clip.start_s, 6),
                "end_s": round(clip.end_s, 6),
                "duration_s": round(clip.duration_s, 6),
                "sample_rate": 16000,
                "align_score": float(span.score),
            }
        )
        result.wavs.append(wav_bytes(clip.audio))
    return result


_WORKER: dict[str, Any] = {}


def _init_worker(settings: Settings) -> None:
    # Keep every worker to one thread: the pool already uses all cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER["settings"] = settings
    _WORKER["aligner"] = make_aligner(settings)


def _work(job: Job) -> Result:
    return process(job, _WORKER["settings"], _WORKER["aligner"])


def _results(jobs: list[Job], settings: Settings, workers: int) -> Iterator[Result]:
    if workers <= 1 or len(jobs) <= 1:
        aligner = make_aligner(settings)
        for job in jobs:
            yield process(job, settings, aligner)
        return
    chunk = max(1, min(16, len(jobs) // (workers * 8)))
    yield from ordered_map(_work, jobs, workers, chunksize=chunk, initializer=_init_worker, initargs=(settings,))


def run_jobs(jobs: list[Job], settings: Settings, workers: int) -> Iterator[Result]:
    """Results in job order, from `workers` processes (1 = in this process, e.g. for the GPU aligner)."""
    return iter(progress(_results(jobs, settings, workers), desc="audio: align+cut", total=len(jobs), unit="file"))
