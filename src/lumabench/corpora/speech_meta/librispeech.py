"""LibriSpeech: transcripts from `*.trans.txt`, word timings from the alignments of Zenodo record 2619474."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from lumabench.corpora.speech_meta.common import SILENCE, SpeechMeta, Timing, read_text, timing
from lumabench.logs import progress

log = logging.getLogger(__name__)

_ALIGN_LINE = re.compile(r'^(\S+)\s+"([^"]*)"\s+"([^"]*)"\s*$')


def parse_librispeech_transcripts(text: str) -> dict[str, str]:
    """Utterance id -> lower-case transcript, from a `<speaker>-<chapter>.trans.txt` file.

    Each line is `<utterance id> <WORDS ...>`; lower case is what the audio stage's tokenizer and
    the other corpora use.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        utt, _, words = line.strip().partition(" ")
        if utt and words.strip():
            out[utt] = " ".join(words.split()).lower()
    return out


def parse_alignment_txt(text: str) -> tuple[dict[str, list[Timing]], int]:
    """Utterance id -> word timings from a `<speaker>-<chapter>.alignment.txt` file, and the bad-line count.

    Each line is `<utterance id> "<w1,w2,...>" "<e1,e2,...>"`: item i ends at e_i and starts where
    item i-1 ends (0 for the first); an empty item is silence and is left out. A line whose lists
    differ in length, hold a non-number or run backwards is counted and skipped: one bad line must
    not shift the times of the others.
    """
    out: dict[str, list[Timing]] = {}
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _ALIGN_LINE.match(line.strip())
        if m is None:
            bad += 1
            continue
        utt, words, ends = m.group(1), m.group(2).split(","), m.group(3).split(",")
        try:
            times = [float(e) for e in ends]
        except ValueError:
            bad += 1
            continue
        if len(words) != len(times) or any(b < a for a, b in zip([0.0, *times], times, strict=False)):
            bad += 1
            continue
        timings, start = [], 0.0
        for word, end in zip(words, times, strict=True):
            w = word.strip().lower()
            if w not in SILENCE:
                timings.append(timing(w, start, end))
            start = end
        out[utt] = timings
    return out, bad


_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(?<![\w.])(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w.])')


def parse_textgrid_words(text: str, tier: str = "words") -> list[Timing]:
    """The non-silent intervals of one interval tier of a Praat TextGrid (long or short text format).

    Both formats hold the same sequence of quoted strings and numbers once the labels (`xmin =`)
    and bracketed indices (`intervals [3]:`) are dropped, so one reader serves both. Raises
    ValueError when the file is not a TextGrid or has no such tier.
    """
    cleaned = re.sub(r"\[\s*\d*\s*\]", " ", text)
    tokens: list[str | float] = []
    for m in _TG_TOKEN.finditer(cleaned):
        tokens.append(m.group(1).replace('""', '"') if m.group(1) is not None else float(m.group(2)))
    if len(tokens) < 5 or tokens[:2] != ["ooTextFile", "TextGrid"]:
        raise ValueError("not a Praat TextGrid text file")
    pos = 5  # header: file type, object class, xmin, xmax, number of tiers
    try:
        for _ in range(int(tokens[4])):
            kind, name, n = tokens[pos], tokens[pos + 1], int(tokens[pos + 4])
            pos += 5
            width = 3 if kind == "IntervalTier" else 2
            if kind == "IntervalTier" and str(name).lower() == tier:
                out = []
                for i in range(n):
                    xmin, xmax, label = tokens[pos + 3 * i : pos + 3 * i + 3]
                    word = str(label).strip().lower()
                    if word not in SILENCE:
                        out.append(timing(word, float(xmin), float(xmax)))
                return out
            pos += width * n
    except (IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"truncated or malformed TextGrid ({exc})") from exc
    raise ValueError(f"no interval tier named {tier!r}")


def _alignment_kind(rel: str) -> str | None:
    name = PurePosixPath(rel).name.lower()
    if name.endswith(".alignment.txt"):
        return "txt"
    if name.endswith(".textgrid"):
        return "textgrid"
    return None


def librispeech_meta(corpus_dir: Path, files: Sequence[str]) -> dict[str, SpeechMeta]:
    """FLAC path -> transcript, speaker and shipped word timings, over every LibriSpeech archive's files.

    Utterances without an alignment keep null timings (the audio stage aligns them). Alignment
    files of utterances not in the manifest are not read: the Zenodo archive covers all 960 h.
    """
    flacs: dict[str, str] = {}
    for rel in sorted(files):
        if rel.lower().endswith(".flac"):
            flacs.setdefault(PurePosixPath(rel).name[: -len(".flac")], rel)
    chapters = {utt.rsplit("-", 1)[0] for utt in flacs}
    transcripts: dict[str, str] = {}
    for rel in sorted(files):
        if rel.endswith(".trans.txt"):
            transcripts.update(parse_librispeech_transcripts(read_text(corpus_dir / rel)))
    aligned = [
        rel
        for rel in sorted(files)
        if (kind := _alignment_kind(rel)) is not None
        and (
            (kind == "txt" and PurePosixPath(rel).name[: -len(".alignment.txt")] in chapters)
            or (kind == "textgrid" and PurePosixPath(rel).name[: -len(".textgrid")] in flacs)
        )
    ]
    timings: dict[str, list[Timing]] = {}
    problems: Counter[str] = Counter()
    for rel in progress(aligned, desc="librispeech: word alignments", unit="file"):
        path = corpus_dir / rel
        try:
            if _alignment_kind(rel) == "txt":
                found, bad = parse_alignment_txt(read_text(path))
                problems["malformed alignment line"] += bad
            else:
                found = {PurePosixPath(rel).name[: -len(".textgrid")]: parse_textgrid_words(read_text(path))}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable word alignment (%s); its utterances will be aligned", path, exc)
            problems["unreadable alignment file"] += 1
            continue
        for utt, words in found.items():
            if utt in flacs and utt not in timings:
                timings[utt] = words
    for reason, n in sorted(problems.items()):
        if n:
            log.warning("librispeech: %d %s(s) skipped", n, reason)
    log.info("librispeech: %d of %d utterances carry shipped word timings", len(timings), len(flacs))
    # an utterance id is <reader>-<chapter>-<n>: the reader is the speaker
    return {
        rel: SpeechMeta(transcripts.get(utt), f"librispeech:{utt.split('-')[0]}", timings.get(utt) or None)
        for utt, rel in flacs.items()
    }
