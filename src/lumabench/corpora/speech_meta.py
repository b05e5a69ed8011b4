"""Transcripts, speakers and shipped word alignments of the full profile's raw speech corpora.

`lumabench audio` cuts class words out of manifest rows of kind `speech`: it needs each file's
transcript, and where the corpus ships its own word alignment (`audio.word_timings_from`) it cuts
with those times instead of aligning again. This module reads that metadata from the files each
corpus publishes, so `full.manifest_table` can put it on the audio rows:

- LibriSpeech: `<speaker>-<chapter>.trans.txt` (transcripts) and the word alignments of Zenodo record
  2619474, either as per-chapter `<speaker>-<chapter>.alignment.txt` lines or as per-utterance
  Praat `<utterance>.TextGrid` files (Montreal Forced Aligner output, tier `words`). Alignments are
  matched to FLAC rows by utterance id, since their folder layout is not LibriSpeech's.
- Spoken Wikipedia (English): `aligned.swc` (normalised words `<n pronunciation start end>` in ms),
  reader names from `audiometa.txt` / `info.json`.
- Common Voice: `validated.tsv` (sentence and client id of each clip in `clips/`).

Every parser is a pure function of file content; the `*_meta` functions read the files. A damaged
metadata file costs its own rows their metadata (logged and counted), never the manifest.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

import soundfile as sf

from lumabench.logs import progress

log = logging.getLogger(__name__)

Timing = dict[str, Any]  # {"word": str, "start_s": float, "end_s": float}: schemas.WORD_TIMING

# Silence and non-word labels of forced aligners (the alignment.txt format uses "").
SILENCE = frozenset({"", "sil", "sp", "spn", "<eps>", "<sil>", "<s>", "</s>"})
# One spoken word: letters with inner apostrophes or hyphens, no digits, no spaces.
_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*'?$")
_ALIGN_LINE = re.compile(r'^(\S+)\s+"([^"]*)"\s+"([^"]*)"\s*$')
_SWC_AUDIO = re.compile(r"^audio(\d*)\.ogg$", re.IGNORECASE)
_READER_KEYS = ("reader.name", "reader.user_name", "reader_name", "user_name", "reader")


@dataclass(frozen=True)
class SpeechMeta:
    """What one speech file's manifest row gets; None leaves the column null."""

    transcript: str | None = None
    speaker: str | None = None
    word_timings: list[Timing] | None = None


def _timing(word: str, start_s: float, end_s: float) -> Timing:
    # Rounded to the microsecond so offsets and unit changes leave no float noise in the manifest.
    return {"word": word, "start_s": round(start_s, 6), "end_s": round(end_s, 6)}


def _read_text(path: Path) -> str:
    """Text of a metadata file: UTF-8 or UTF-16 (Praat writes either), undecodable bytes replaced."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


# ---------------------------------------------------------------- LibriSpeech
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
                timings.append(_timing(w, start, end))
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
                        out.append(_timing(word, float(xmin), float(xmax)))
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
    """FLAC path -> transcript and shipped word timings, over every LibriSpeech archive's files.

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
            transcripts.update(parse_librispeech_transcripts(_read_text(corpus_dir / rel)))
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
                found, bad = parse_alignment_txt(_read_text(path))
                problems["malformed alignment line"] += bad
            else:
                found = {PurePosixPath(rel).name[: -len(".textgrid")]: parse_textgrid_words(_read_text(path))}
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
    return {
        rel: SpeechMeta(transcripts.get(utt), None, timings.get(utt) or None)
        for utt, rel in flacs.items()
        if utt in transcripts or utt in timings
    }


# ---------------------------------------------------------------- Spoken Wikipedia
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
                if s is None or e is None or e < s or not _WORD.match(word):
                    skipped += 1
                else:
                    out.append(_timing(word, s, e))
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
                    parts[k].append(_timing(t["word"], max(0.0, t["start_s"] - off), min(dur, t["end_s"] - off)))
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
        name = parse_audiometa(_read_text(meta))
        if name:
            return name
    info = folder / "info.json"
    if info.is_file():
        try:
            return parse_info_reader(json.loads(_read_text(info)))
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


# ---------------------------------------------------------------- Common Voice
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


# ---------------------------------------------------------------- dispatch
def corpus_meta(corpus: str, corpus_dir: Path, files: Sequence[str]) -> dict[str, SpeechMeta]:
    """Path (relative to `corpus_dir`) -> metadata of each speech file of `corpus`, over all its archives."""
    if corpus == "librispeech":
        return librispeech_meta(corpus_dir, files)
    if corpus == "spoken_wikipedia":
        return spoken_wikipedia_meta(corpus_dir, files)
    if corpus == "common_voice":
        return common_voice_meta(corpus_dir, files)
    return {}
