"""Spoken Wikipedia (English): transcript and word timings from `aligned.swc`, reader from the metadata."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

import soundfile as sf

from lumabench.corpora.speech_meta.common import WORD, SpeechMeta, Timing, read_text, timing
from lumabench.logs import progress

log = logging.getLogger(__name__)

_SWC_AUDIO = re.compile(r"^audio(\d*)\.ogg$", re.IGNORECASE)
_READER_KEYS = ("reader.name", "reader.user_name", "reader_name", "user_name", "reader")


class SwcError(ValueError):
    """An aligned.swc file that cannot be read as SWC XML."""


def parse_swc(data: bytes) -> tuple[list[Timing], int]:
    """Aligned normalised words of an `aligned.swc` file in spoken order, and how many were left out.

    The words are the `<n pronunciation=… start=ms end=ms/>` elements inside `<t>` tokens. Left
    out (counted): an `<n>` without both times (the aligner lost it), with end before start, or
    whose pronunciation is not one word of letters (several words or digits: the audio stage could
    not match it to a transcript token, and a digit would make it reject the whole transcript).
    Raises SwcError on XML that does not parse or declares entities (refused, never expanded).
    """
    if b"<!ENTITY" in data:
        raise SwcError("declares XML entities (refused)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SwcError(f"malformed XML: {exc}") from exc
    out: list[Timing] = []
    skipped = 0

    def walk(elem: ET.Element, in_token: bool) -> None:
        nonlocal skipped
        for child in elem:
            if child.tag == "n" and in_token:
                word = " ".join(child.get("pronunciation", "").split()).lower()
                start, end = child.get("start"), child.get("end")
                try:
                    s, e = (float(start) / 1000.0, float(end) / 1000.0) if start and end else (None, None)
                except ValueError:
                    s = e = None
                if s is None or e is None or e < s or not WORD.match(word):
                    skipped += 1
                else:
                    out.append(timing(word, s, e))
            walk(child, in_token or child.tag == "t")

    walk(root, False)
    return out, skipped


def parse_audiometa(text: str) -> str | None:
    """The reader's name from an SWC `audiometa.txt` (`key = value` lines), if it names one."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        key, value = key.strip().lower(), " ".join(value.split())
        if sep and value and key not in found:
            found[key] = value
    for want in _READER_KEYS:
        for key, value in found.items():
            if key == want or key.endswith("." + want):
                return value
    return None


def parse_info_reader(info: Any) -> str | None:
    """The reader's name from an SWC `info.json` object, if it holds one (a string, or {"name": …})."""
    if not isinstance(info, dict):
        return None
    for key in _READER_KEYS:
        value = info.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("user_name")
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def split_by_file(timings: list[Timing], durations: Sequence[float]) -> tuple[list[list[Timing]], int]:
    """Spread article-wide timings over the audio files they were aligned as one recording.

    SWC aligns an article read in several parts against the parts played one after another, so
    file k starts at the sum of the earlier files' durations. A word is moved to the file holding
    it, with times relative to that file; a word across a file boundary is dropped (counted).
    """
    offsets, total = [], 0.0
    for d in durations:
        offsets.append(total)
        total += d
    parts: list[list[Timing]] = [[] for _ in durations]
    crossing = 0
    tol = 1e-3  # the alignment's 1 ms resolution
    for t in timings:
        for k, (off, dur) in enumerate(zip(offsets, durations, strict=True)):
            if off - tol <= t["start_s"] < off + dur:
                if t["end_s"] <= off + dur + tol:
                    parts[k].append(timing(t["word"], max(0.0, t["start_s"] - off), min(dur, t["end_s"] - off)))
                else:
                    crossing += 1
                break
        else:
            crossing += 1  # beyond the last file's end
    return parts, crossing


def _swc_audio(files: Iterable[str]) -> dict[str, list[str]]:
    """Article folder -> its audio files in playing order (audio.ogg, or audio1.ogg, audio2.ogg, …)."""
    by_dir: dict[str, list[tuple[int, str]]] = {}
    for rel in files:
        p = PurePosixPath(rel)
        m = _SWC_AUDIO.match(p.name)
        if m is not None:
            by_dir.setdefault(str(p.parent), []).append((int(m.group(1) or 0), rel))
    return {d: [rel for _, rel in sorted(items)] for d, items in by_dir.items()}


def _swc_reader(folder: Path) -> str | None:
    meta = folder / "audiometa.txt"
    if meta.is_file():
        name = parse_audiometa(read_text(meta))
        if name:
            return name
    info = folder / "info.json"
    if info.is_file():
        try:
            return parse_info_reader(json.loads(read_text(info)))
        except ValueError:
            log.warning("%s: not valid JSON; reader unknown", info)
    return None


def _durations(corpus_dir: Path, audio: list[str]) -> list[float] | None:
    try:
        return [float(sf.info(str(corpus_dir / rel)).duration) for rel in audio]
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        log.warning("%s: cannot read the duration of its audio parts (%s)", corpus_dir / audio[0], exc)
        return None


def spoken_wikipedia_meta(corpus_dir: Path, files: Sequence[str]) -> dict[str, SpeechMeta]:
    """Article audio path -> transcript, speaker and word timings from the article's SWC files.

    The transcript is the article's aligned normalised words, in order: exactly the words the
    timings cover, so the audio stage cuts with the shipped alignment (`shipped_spans` needs every
    transcript word timed) rather than force-aligning a recording that can run for an hour.
    Articles in several audio files are kept: each file gets the words inside it, offset by the
    durations of the files before it (`split_by_file`). A malformed aligned.swc, or a part whose
    duration cannot be read, leaves that article's files with a speaker but no transcript or
    timings (logged and counted), so they yield no clips.
    """
    names = set(files)
    out: dict[str, SpeechMeta] = {}
    counts: Counter[str] = Counter()
    articles = _swc_audio(files)
    for folder_rel, audio in progress(sorted(articles.items()), desc="spoken_wikipedia: alignments", unit="article"):
        folder = corpus_dir / folder_rel
        reader = _swc_reader(folder)
        speaker = f"spoken_wikipedia:{reader or PurePosixPath(folder_rel).name}"
        counts["articles"] += 1
        swc_rel = str(PurePosixPath(folder_rel) / "aligned.swc") if folder_rel != "." else "aligned.swc"
        parts: list[list[Timing]] | None = None
        if swc_rel not in names:
            counts["without aligned.swc"] += 1
        else:
            try:
                timings, unaligned = parse_swc((corpus_dir / swc_rel).read_bytes())
            except (OSError, SwcError) as exc:
                log.warning("%s: %s; the article gets no transcript or timings", corpus_dir / swc_rel, exc)
                counts["with an unreadable aligned.swc"] += 1
            else:
                counts["words left out (unaligned or not one word)"] += unaligned
                if len(audio) == 1:
                    parts = [timings]
                else:
                    counts["read in several files"] += 1
                    durations = _durations(corpus_dir, audio)
                    if durations is None:
                        counts["with an unreadable audio part"] += 1
                    else:
                        parts, crossing = split_by_file(timings, durations)
                        counts["words across a file boundary (dropped)"] += crossing
        for k, rel in enumerate(audio):
            words = parts[k] if parts is not None else []
            transcript = " ".join(t["word"] for t in words) or None
            out[rel] = SpeechMeta(transcript, speaker, words or None)
            counts["timed words"] += len(words)
    if counts:
        log.info("spoken_wikipedia: %s", ", ".join(f"{n} {what}" for what, n in counts.items()))
    return out
