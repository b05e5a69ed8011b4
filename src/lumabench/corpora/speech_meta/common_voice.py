"""Common Voice: sentence and speaker of each validated clip, from `validated.tsv`."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import soundfile as sf

from lumabench.corpora.speech_meta.common import SpeechMeta

log = logging.getLogger(__name__)


def parse_validated_tsv(lines: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Clip file name -> (lower-case sentence, speaker) from a Common Voice `validated.tsv`.

    Only validated clips (up-voted by other contributors) get a transcript: the others may not say
    their sentence. The speaker is the first 12 characters of the contributor's hashed client id,
    enough to tell contributors apart without copying the whole id into every table. The file is
    read without quote handling, as Common Voice writes it (sentences hold bare quotes), and line by
    line: an English release lists over a million clips.
    """
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    needed = {"client_id", "path", "sentence"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise ValueError(f"validated.tsv lacks column(s) {sorted(needed - set(reader.fieldnames or []))}")
    out: dict[str, tuple[str, str]] = {}
    for row in reader:
        path, sentence, client = (row.get(k) or "" for k in ("path", "sentence", "client_id"))
        sentence = " ".join(sentence.split()).lower()
        if path and sentence and client:
            name = path.strip()
            if not PurePosixPath(name).suffix:
                name += ".mp3"  # early releases list clip ids without the extension
            out[name] = (sentence, f"common_voice:{client.strip()[:12]}")
    return out


def mp3_readable() -> bool:
    """Whether the installed libsndfile decodes MP3 (1.1.0 and later), which Common Voice clips are."""
    return "MP3" in sf.available_formats()


def common_voice_meta(corpus_dir: Path, files: Sequence[str]) -> dict[str, SpeechMeta]:
    """Clip path -> transcript and speaker for the clips listed in each `validated.tsv`.

    Clips not listed there keep a null transcript, which the audio stage treats as "no class
    word" without opening the file.
    """
    out: dict[str, SpeechMeta] = {}
    names = set(files)
    clips = [rel for rel in files if PurePosixPath(rel).suffix.lower() == ".mp3"]
    if clips and not mp3_readable():
        log.warning(
            "common_voice: this soundfile/libsndfile (%s) cannot decode MP3, so its %d clips will be skipped by "
            "`lumabench audio`; install libsndfile >= 1.1.0 (soundfile >= 0.12 wheels bundle it)",
            sf.__libsndfile_version__,
            len(clips),
        )
    for rel in sorted(files):
        if PurePosixPath(rel).name != "validated.tsv":
            continue
        path = corpus_dir / rel
        try:
            with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
                listed = parse_validated_tsv(fh)
        except (OSError, ValueError, csv.Error) as exc:
            log.warning("%s: unreadable (%s); its clips get no transcript", path, exc)
            continue
        clip_dir = PurePosixPath(rel).parent / "clips"
        for name, (sentence, speaker) in listed.items():
            clip = str(clip_dir / name)
            if clip in names:
                out.setdefault(clip, SpeechMeta(sentence, speaker, None))
    log.info("common_voice: %d of %d clips are validated and carry a transcript", len(out), len(clips))
    return out
