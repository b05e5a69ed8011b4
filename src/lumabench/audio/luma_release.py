"""Import the published LUMA audio clips into the same clip table (audio.source: luma_release).

The release lists its clips in `audio/datalist*.csv` (columns `path`, `label`; paths relative to
the CSV's folder, sub-folders `cv_audio`, `ls_audio`, `sw_audio` per source corpus). Each clip is
converted to 16 kHz mono, edge-trimmed and normalised exactly like extracted clips, so later stages
cannot tell the two paths apart. The release's clips passed the authors' automatic and manual
validation, so their alignment score is 0 (log 1).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from lumabench import classes
from lumabench.audio.clips import SourceError, active_bounds, normalise, read_mono, wav_bytes
from lumabench.audio.extract import clip_id
from lumabench.errors import InputError
from lumabench.logs import progress
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.pools import ordered_map, workers

log = logging.getLogger("lumabench.audio")

_CORPORA = {"cv_audio": "common_voice", "ls_audio": "librispeech", "sw_audio": "spoken_wikipedia"}
_SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")


def find_lists(raw: Path) -> list[Path]:
    """Every `datalist*.csv` of the release under `raw`, in a fixed order."""
    return sorted(p for p in raw.rglob("datalist*.csv") if p.is_file())


def _entries(lists: list[Path], root: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    entries: dict[str, dict[str, str]] = {}
    skipped = []
    for lst in lists:
        with lst.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = set(reader.fieldnames or [])
            if not {"path", "label"} <= cols:
                raise InputError(
                    "a LUMA audio list needs the columns 'path' and 'label'", lst, "re-run `lumabench corpora`"
                )
            spk_col = next((c for c in _SPEAKER_COLUMNS if c in cols), None)
            for rec in reader:
                src = (lst.parent / rec["path"]).resolve()
                rel = src.relative_to(root.resolve()).as_posix() if src.is_relative_to(root.resolve()) else str(src)
                cls = classes.by_form((rec["label"] or "").strip())
                if cls is None:
                    skipped.append({"path": rel, "reason": f"unknown label {rec['label']!r}"})
                    continue
                top = Path(rec["path"]).parts[0] if Path(rec["path"]).parts else ""
                entries.setdefault(
                    rel,
                    {
                        "source_path": rel,
                        "abs_path": str(src),
                        "label": cls.name,
                        "corpus": _CORPORA.get(top, "luma"),
                        "speaker": (rec.get(spk_col) or "") if spk_col else "",
                    },
                )
    return [entries[k] for k in sorted(entries)], skipped


def _convert(args: tuple[dict[str, str], float, float, float, float]) -> tuple[dict[str, Any] | None, bytes, str]:
    entry, top_db, target, lo_s, hi_s = args
    try:
        audio = read_mono(Path(entry["abs_path"]))
    except SourceError as exc:
        return None, b"", str(exc)
    a, b = active_bounds(audio, top_db)
    if b <= a:
        return None, b"", "silent"
    seg = normalise(audio[a:b], target, top_db)
    dur = len(seg) / 16000
    if dur < lo_s:
        return None, b"", "shorter than audio.min_duration_s"
    if dur > hi_s:
        return None, b"", "longer than audio.max_duration_s"
    row = {
        "clip_id": clip_id(entry["label"], entry["source_path"], 0),
        "label": entry["label"],
        "corpus": entry["corpus"],
        "speaker": entry["speaker"],
        "source_path": entry["source_path"],
        "start_s": round(a / 16000, 6),
        "end_s": round(b / 16000, 6),
        "duration_s": round(dur, 6),
        "sample_rate": 16000,
        "align_score": 0.0,
    }
    return row, wav_bytes(seg), ""


def import_release(params: Params, paths: Paths, sink: Any) -> dict[str, Any]:
    """Convert every usable release clip into `sink` (a ClipSink); return the report of what was skipped."""
    cfg = params.audio
    lists = find_lists(paths.raw)
    if not lists:
        raise InputError(
            "no LUMA audio list (datalist*.csv) under the raw folder",
            paths.raw,
            "run `lumabench --set profile=full corpora` with source 'luma', or set audio.source: extract",
        )
    entries, skipped = _entries(lists, paths.root)
    args = [(e, cfg.trim_db, cfg.loudness_dbfs, cfg.min_duration_s, cfg.max_duration_s) for e in entries]
    n_workers = min(workers(cfg.workers), max(1, len(args)))
    dropped: Counter[str] = Counter()
    n_clips = 0
    converted = ordered_map(_convert, args, n_workers, chunksize=32) if n_workers > 1 else map(_convert, args)
    results = progress(converted, "audio: import LUMA", len(args), "clip")
    for entry, (row, wav, reason) in zip(entries, results, strict=True):
        if row is not None:
            sink.add(row, wav)
            n_clips += 1
        elif reason.startswith(("shorter", "longer", "silent")):
            dropped[reason] += 1
        else:
            log.warning("skipped %s: %s", entry["source_path"], reason)
            skipped.append({"path": entry["source_path"], "reason": reason})
    log.info("imported %d LUMA clips from %d listed files (%d skipped)", n_clips, len(entries), len(skipped))
    return {
        "source": "luma_release",
        "files": len(entries),
        "skipped": skipped,
        "dropped": dict(sorted(dropped.items())),
    }
