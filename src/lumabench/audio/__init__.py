"""Stage 2 `lumabench audio`: class-word clips from speech (DESIGN §2).

`audio.source: extract` finds the class words in transcribed speech (manifest rows of kind
"speech"), aligns them (pocketsphinx in mini, a wav2vec2 CTC model in full) and cuts normalised
clips; `audio.source: luma_release` imports the published LUMA clips instead. Both write
`interim/audio/clips/*.wav`, `interim/audio/clips.parquet` (schema CLIPS) and
`interim/audio/report.json` (skipped files with reasons, drops, per-class counts, alignment
accuracy per engine), all in one atomic directory swap.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from lumabench import classes
from lumabench.audio.accuracy import BoundaryError, summarise
from lumabench.audio.extract import Job, Settings, run_jobs
from lumabench.errors import InputError
from lumabench.io import atomic_dir, read_parquet, write_json, write_parquet
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.pools import workers as pool_size
from lumabench.schemas import CLIPS, MANIFEST

log = logging.getLogger("lumabench.audio")

__all__ = ["ClipSink", "extract", "run"]


def run(params: Params, paths: Paths) -> None:
    """Build the clip table for the selected profile."""
    with atomic_dir(paths.audio) as tmp:
        sink = ClipSink(tmp / "clips")
        if params.audio.source == "luma_release":
            from lumabench.audio.luma_release import import_release

            report = import_release(params, paths, sink)
        else:
            report = extract(params, paths, sink)
        check_counts(sink.rows, params, paths)  # raising here leaves the previous output untouched
        write_tables(sink, report, tmp, paths)
    log.info("wrote %d clips to %s", len(sink.rows), paths.audio)


class ClipSink:
    """Writes each clip's WAV as it arrives (memory stays flat) and keeps its row."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any], wav: bytes) -> None:
        (self.folder / f"{row['clip_id']}.wav").write_bytes(wav)
        self.rows.append(row)


def _jobs(params: Params, paths: Paths) -> list[Job]:
    fix = "run `lumabench corpora` first"
    table = read_parquet(paths.manifest, MANIFEST, fix)
    speech = [r for r in table.to_pylist() if r["kind"] == "speech"]
    if not speech:
        raise InputError("the manifest lists no speech files (kind == 'speech')", paths.manifest, fix)
    jobs = []
    for r in speech:
        if not r["path"]:
            raise InputError("a speech row has no path", paths.manifest, fix)
        jobs.append(
            Job(
                source_path=r["path"],
                abs_path=str(paths.root / r["path"]),
                transcript=r["transcript"] or "",
                corpus=r["corpus"] or "",
                speaker=r["speaker"] or "",
                group=r["engine"] or r["corpus"] or "unknown",
                timings=r["word_timings"],
            )
        )
    return sorted(jobs, key=lambda j: j.source_path)


def extract(params: Params, paths: Paths, sink: ClipSink) -> dict[str, Any]:
    """Align and cut every speech file of the manifest; failures are reported, never fatal."""
    cfg = params.audio
    jobs = _jobs(params, paths)
    settings = Settings(
        seed=params.seed,
        aligner=cfg.aligner,
        aligner_model=cfg.aligner_model,
        model_dir=str(paths.raw / "aligner"),  # fetched by `lumabench corpora` (full: sources.aligner)
        margin_s=cfg.margin_s,
        min_duration_s=cfg.min_duration_s,
        max_duration_s=cfg.max_duration_s,
        loudness_dbfs=cfg.loudness_dbfs,
        trim_db=cfg.trim_db,
        timings_from=tuple(cfg.word_timings_from),
        max_align_s=cfg.max_align_s,
    )
    workers = pool_size(cfg.workers)
    if cfg.aligner == "ctc":
        workers = 1  # one model on the GPU (or torch's own threads on the CPU)
    log.info("aligning %d speech files with %s on %d worker(s)", len(jobs), cfg.aligner, workers)
    t0 = time.perf_counter()
    n_clips = 0
    skipped: list[dict[str, str]] = []
    dropped: Counter[str] = Counter()
    errors: list[BoundaryError] = []
    no_class_word = 0
    for res in run_jobs(jobs, settings, workers):
        no_class_word += res.no_class_word
        if res.failure is not None:
            log.warning("skipped %s: %s", res.source_path, res.failure)
            skipped.append({"path": res.source_path, "reason": res.failure})
        for row, wav in zip(res.rows, res.wavs, strict=True):
            sink.add(row, wav)
        n_clips += len(res.rows)
        dropped.update(res.dropped)
        errors.extend(res.errors)
    elapsed = time.perf_counter() - t0
    log.info(
        "%d clips from %d files in %.1f s (%.1f clips/s); %d files skipped",
        n_clips, len(jobs), elapsed, n_clips / max(elapsed, 1e-9), len(skipped),
    )  # fmt: skip
    accuracy = summarise(errors)
    untimed = Counter(j.group for j in jobs if not j.timings)
    for group in sorted(set(untimed) - set(accuracy)):
        log.info(
            "alignment vs engine timings [%s]: not measured (%d files carry no word timings)", group, untimed[group]
        )
    for group, s in accuracy.items():
        log.info(
            "alignment vs engine timings [%s]: %d words, mean |boundary error| %.1f ms, %.1f%% within 50 ms "
            "(untrimmed: %.1f ms, %.1f%%)",
            group, s["words"], s["mean_abs_ms"], 100 * s["within_50ms"], s["raw_mean_abs_ms"],
            100 * s["raw_within_50ms"],
        )  # fmt: skip
    report = {
        "source": "extract",
        "aligner": cfg.aligner,
        "files": len(jobs),
        "files_without_class_words": no_class_word,
        "skipped": skipped,
        "dropped": dict(sorted(dropped.items())),
        "alignment_accuracy": accuracy,
        "alignment_accuracy_by_speaker": summarise(errors, by="speaker"),
    }
    return report


def check_counts(rows: list[dict[str, Any]], params: Params, paths: Paths) -> None:
    """Fail (one clear line) if an in-distribution class has fewer clips than the variants need."""
    need = params.variants.train_per_class + params.variants.test_per_class
    counts = Counter(r["label"] for r in rows)
    short = [f"{c.name} {counts.get(c.name, 0)}" for c in classes.ID_CLASSES if counts.get(c.name, 0) < need]
    if short:
        raise InputError(
            f"too few clips for {len(short)} in-distribution class(es) (need {need} = variants.train_per_class "
            f"+ variants.test_per_class): {', '.join(short)}",
            paths.manifest,
            "add speech (corpora.mini.sentences_per_word / voices) or lower variants.train_per_class/test_per_class",
        )


def write_tables(sink: ClipSink, report: dict[str, Any], folder: Path, paths: Paths) -> None:
    """clips.parquet (rows sorted by clip id, paths relative to the project root) and report.json."""
    rows = sorted(sink.rows, key=lambda r: r["clip_id"])
    ids = [r["clip_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise InputError("duplicate clip ids", paths.manifest, "each source file must be listed once")
    clip_dir = paths.audio / "clips"
    rel_dir = clip_dir.relative_to(paths.root) if clip_dir.is_relative_to(paths.root) else clip_dir
    table = pa.Table.from_pylist(
        [{**r, "path": (rel_dir / f"{r['clip_id']}.wav").as_posix()} for r in rows], schema=CLIPS
    )
    write_parquet(folder / "clips.parquet", table, CLIPS)
    counts = Counter(r["label"] for r in rows)
    per_class = {c.name: counts.get(c.name, 0) for c in classes.CLASSES}
    write_json(folder / "report.json", {**report, "clips": len(rows), "clips_per_class": per_class})
