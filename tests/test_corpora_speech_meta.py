"""Speech-corpus metadata of the full profile: parsers, manifest rows, and cutting with shipped timings."""

from __future__ import annotations

import importlib
import io
import json
import logging
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from lumabench.audio import ClipSink, extract
from lumabench.audio.align_types import AlignmentError
from lumabench.corpora import full, speech_meta
from lumabench.corpora.sources import Corpus, FileSource
from lumabench.corpora.speech_meta import (
    SwcError,
    common_voice,
    common_voice_meta,
    librispeech_meta,
    parse_alignment_txt,
    parse_audiometa,
    parse_info_reader,
    parse_librispeech_transcripts,
    parse_swc,
    parse_textgrid_words,
    parse_validated_tsv,
    split_by_file,
    spoken_wikipedia_meta,
)
from lumabench.paths import Paths
from test_corpora_download import PUBLISHER, _closed_port_url, _fake_registry, _params, _tar, _zip


def _words(timings: list[dict]) -> list[tuple[str, float, float]]:
    return [(t["word"], t["start_s"], t["end_s"]) for t in timings]


# ---------------------------------------------------------------- LibriSpeech
ALIGNMENT_TXT = (
    '84-121123-0000 ",A,HORSE,,AND,A,DOG," "0.400,0.520,0.980,1.200,1.400,1.480,1.900,2.300"\n'
    '84-121123-0002 "THE,CAT" "0.300"\n'  # two words, one time: skipped
    '84-121123-0003 "THE,CAT" "0.500,0.400"\n'  # runs backwards: skipped
    "84-121123-0004 THE CAT\n"  # not the format: skipped
    '84-121123-0005 ",DON\'T," "0.250,0.700,0.900"\n'
)


def test_alignment_txt_words_start_where_the_previous_item_ends_and_silence_is_dropped():
    timings, bad = parse_alignment_txt(ALIGNMENT_TXT)
    assert bad == 3
    assert sorted(timings) == ["84-121123-0000", "84-121123-0005"]
    assert _words(timings["84-121123-0000"]) == [
        ("a", 0.4, 0.52),
        ("horse", 0.52, 0.98),
        ("and", 1.2, 1.4),
        ("a", 1.4, 1.48),
        ("dog", 1.48, 1.9),
    ]
    assert _words(timings["84-121123-0005"]) == [("don't", 0.25, 0.7)]


TEXTGRID_LONG = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.5
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 2.5
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 1.25
            text = "HH"
        intervals [2]:
            xmin = 1.25
            xmax = 2.5
            text = ""
    item [2]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 2.5
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.31
            text = ""
        intervals [2]:
            xmin = 0.31
            xmax = 0.8
            text = "the"
        intervals [3]:
            xmin = 0.8
            xmax = 1.42
            text = "TRAIN"
        intervals [4]:
            xmin = 1.42
            xmax = 2.5
            text = "sil"
"""

TEXTGRID_SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
1
"IntervalTier"
"words"
0
2.5
3
0
0.31
""
0.31
0.8
"say ""hi"""
0.8
2.5
"bear"
'''


def test_textgrid_words_tier_in_long_and_short_format():
    assert _words(parse_textgrid_words(TEXTGRID_LONG)) == [("the", 0.31, 0.8), ("train", 0.8, 1.42)]
    assert _words(parse_textgrid_words(TEXTGRID_SHORT)) == [('say "hi"', 0.31, 0.8), ("bear", 0.8, 2.5)]
    with pytest.raises(ValueError, match="no interval tier"):
        parse_textgrid_words(TEXTGRID_LONG.replace('"words"', '"other"'))
    with pytest.raises(ValueError, match="not a Praat TextGrid"):
        parse_textgrid_words("84-121123-0000 THE TRAIN")
    with pytest.raises(ValueError, match="truncated"):
        parse_textgrid_words(TEXTGRID_SHORT[: TEXTGRID_SHORT.index('"bear"')])


def test_librispeech_alignments_join_flac_rows_by_utterance_id(tmp_path, caplog):
    files = {
        "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt": "84-121123-0000 A HORSE AND A DOG\n"
        "84-121123-0001 THE  CATHEDRAL\n",
        "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac": "",
        "LibriSpeech/dev-clean/84/121123/84-121123-0001.flac": "",
        "LibriSpeech/dev-clean/174/50561/174-50561.trans.txt": "174-50561-0000 THE TRAIN\n",
        "LibriSpeech/dev-clean/174/50561/174-50561-0000.flac": "",
        # the alignments use their own layout
        "alignments/dev-clean/84/84-121123.alignment.txt": ALIGNMENT_TXT,
        "alignments/dev-clean/174/174-50561-0000.TextGrid": TEXTGRID_LONG,
        "alignments/train-other-500/9/9-9-0000.TextGrid": "not read: no such utterance here",
        "alignments/dev-clean/5/5-5-0000.TextGrid": "not read either",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with caplog.at_level(logging.WARNING, logger="lumabench"):
        meta = librispeech_meta(tmp_path, sorted(files))

    base = "LibriSpeech/dev-clean/"
    assert set(meta) == {f"{base}84/121123/84-121123-0000.flac", f"{base}84/121123/84-121123-0001.flac",
                         f"{base}174/50561/174-50561-0000.flac"}  # fmt: skip
    first = meta[f"{base}84/121123/84-121123-0000.flac"]
    assert first.transcript == "a horse and a dog"
    assert _words(first.word_timings)[1] == ("horse", 0.52, 0.98)
    unaligned = meta[f"{base}84/121123/84-121123-0001.flac"]
    assert (unaligned.transcript, unaligned.word_timings) == ("the cathedral", None)
    assert _words(meta[f"{base}174/50561/174-50561-0000.flac"].word_timings) == [
        ("the", 0.31, 0.8),
        ("train", 0.8, 1.42),
    ]
    assert "3 malformed alignment line(s) skipped" in caplog.text
    assert parse_librispeech_transcripts("x-1 A\n\nbad\n") == {"x-1": "a"}


# ---------------------------------------------------------------- Spoken Wikipedia
def _swc(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<article><meta><prop key="DC.title" value="Horse"/></meta>'
        f"<d><section><sectiontitle><t>Horse<n pronunciation='horse' start='500' end='980'/></t></sectiontitle>"
        f"<p><s>{body}</s></p></section></d></article>"
    ).encode()


SWC_BODY = (
    "<t>The<n pronunciation='the' start='1200' end='1350'/></t> "
    "<t>Dog's<n pronunciation=\"Dog's\" start='1350' end='1800'/></t> "
    "<t>in<n pronunciation='in'/></t> "  # unaligned
    "<t>1990<n pronunciation='nineteen ninety' start='1800' end='2600'/></t> "  # not one word
    "<t>2<n pronunciation='2' start='2600' end='2700'/></t>"  # a digit
    "<t>ran<n pronunciation='ran' start='3000' end='2900'/></t>"  # ends before it starts
    "<t>home<n pronunciation='home' start='3100' end='3400'/></t>"
    "<n pronunciation='outside' start='3500' end='3600'/>"  # not in a token
)


def test_swc_aligned_normalised_words_in_seconds():
    timings, skipped = parse_swc(_swc(SWC_BODY))
    assert _words(timings) == [
        ("horse", 0.5, 0.98),
        ("the", 1.2, 1.35),
        ("dog's", 1.35, 1.8),
        ("home", 3.1, 3.4),
    ]
    assert skipped == 4


@pytest.mark.parametrize(
    "data",
    [
        b"<article><d><s><t>x<n pronunciation='x' start='1' end='2'></t></s></d></article>",
        b"",
        b'<!DOCTYPE a [<!ENTITY e "x">]><article>&e;</article>',
    ],
)
def test_malformed_swc_raises_its_own_error(data):
    with pytest.raises(SwcError):
        parse_swc(data)


def test_reader_names_from_audiometa_and_info_json():
    meta = "article.title = Horse\nreader.user_name = Jane  Doe\nreader.gender = female\n"
    assert parse_audiometa(meta) == "Jane Doe"
    assert parse_audiometa("reader.name: Ann\n") == "Ann"
    assert parse_audiometa("rec.date = 2010\n") is None
    assert parse_info_reader({"reader": {"name": "Bob"}}) == "Bob"
    assert parse_info_reader({"reader.name": " Eve "}) == "Eve"
    assert parse_info_reader({"title": "x"}) is None
    assert parse_info_reader(["not", "a", "dict"]) is None


def test_article_timings_are_spread_over_its_audio_files():
    timings = [
        {"word": "a", "start_s": 0.2, "end_s": 0.5},
        {"word": "b", "start_s": 0.95, "end_s": 1.1},  # across the boundary at 1.0
        {"word": "c", "start_s": 1.4, "end_s": 1.9},
        {"word": "d", "start_s": 2.7, "end_s": 2.9},  # after the last file
    ]
    parts, dropped = split_by_file(timings, [1.0, 1.6])
    assert [_words(p) for p in parts] == [[("a", 0.2, 0.5)], [("c", 0.4, 0.9)]]
    assert dropped == 2


def _write(root: Path, rel: str, data: bytes | str) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return rel


def _ogg(seconds: float, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(round(seconds * sr), dtype=np.float32), sr, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def test_spoken_wikipedia_rows_get_transcript_speaker_and_file_relative_timings(tmp_path, caplog):
    two_part = (
        "<t>The<n pronunciation='the' start='200' end='500'/></t>"
        "<t>big<n pronunciation='big' start='950' end='1100'/></t>"
        "<t>horse<n pronunciation='horse' start='1400' end='1900'/></t>"
    )
    files = [
        _write(tmp_path, "english/Horse/audio.ogg", _ogg(0.1)),
        _write(tmp_path, "english/Horse/aligned.swc", _swc(SWC_BODY)),
        _write(tmp_path, "english/Horse/audiometa.txt", "reader.user_name = Jane Doe\n"),
        _write(tmp_path, "english/Horse/info.json", json.dumps({"reader": "not used: audiometa.txt names one"})),
        _write(tmp_path, "english/Universe/audio1.ogg", _ogg(1.0)),
        _write(tmp_path, "english/Universe/audio2.ogg", _ogg(1.6)),
        _write(tmp_path, "english/Universe/aligned.swc", f"<article><d><s>{two_part}</s></d></article>"),
        _write(tmp_path, "english/Universe/info.json", json.dumps({"reader": {"name": "Bob"}})),
        _write(tmp_path, "english/Broken/audio.ogg", _ogg(0.1)),
        _write(tmp_path, "english/Broken/aligned.swc", "<article><d><s><t>x</s></d>"),
        _write(tmp_path, "english/Broken/info.json", "{not json"),
        _write(tmp_path, "english/Plain/audio.ogg", _ogg(0.1)),
    ]
    with caplog.at_level(logging.INFO, logger="lumabench"):
        meta = spoken_wikipedia_meta(tmp_path, sorted(files))

    horse = meta["english/Horse/audio.ogg"]
    assert horse.transcript == "horse the dog's home"
    assert horse.speaker == "spoken_wikipedia:Jane Doe"
    assert _words(horse.word_timings)[2] == ("dog's", 1.35, 1.8)
    first, second = meta["english/Universe/audio1.ogg"], meta["english/Universe/audio2.ogg"]
    assert (first.transcript, _words(first.word_timings)) == ("the", [("the", 0.2, 0.5)])
    assert (second.transcript, _words(second.word_timings)) == ("horse", [("horse", 0.4, 0.9)])
    assert first.speaker == second.speaker == "spoken_wikipedia:Bob"
    broken = meta["english/Broken/audio.ogg"]
    assert (broken.transcript, broken.word_timings, broken.speaker) == (None, None, "spoken_wikipedia:Broken")
    plain = meta["english/Plain/audio.ogg"]
    assert (plain.transcript, plain.speaker) == (None, "spoken_wikipedia:Plain")
    assert "Broken/aligned.swc: malformed XML" in caplog.text
    assert "1 with an unreadable aligned.swc" in caplog.text
    assert "1 words across a file boundary (dropped)" in caplog.text
    assert "1 read in several files" in caplog.text


# ---------------------------------------------------------------- Common Voice
VALIDATED = (
    "client_id\tpath\tsentence_id\tsentence\tup_votes\n"
    'a1b2c3d4e5f6a7b8c9\tcommon_voice_en_1.mp3\ts1\tThe "big" Horse ran.\t2\n'
    "ffffeeeeddddcccc\tcommon_voice_en_2.mp3\ts2\t  \t2\n"  # no sentence: no transcript
    "0123456789abcdef\tcommon_voice_en_3\ts3\tA cat.\t3\n"  # early releases: no extension
)


def test_validated_tsv_sentences_and_speakers():
    listed = parse_validated_tsv(io.StringIO(VALIDATED))
    assert listed == {
        "common_voice_en_1.mp3": ('the "big" horse ran.', "common_voice:a1b2c3d4e5f6"),
        "common_voice_en_3.mp3": ("a cat.", "common_voice:0123456789ab"),
    }
    with pytest.raises(ValueError, match="sentence"):
        parse_validated_tsv(io.StringIO("client_id\tpath\n"))


def test_common_voice_clips_not_validated_get_no_transcript(tmp_path, monkeypatch, caplog):
    files = [
        _write(tmp_path, "cv-corpus-17.0-en/en/validated.tsv", VALIDATED),
        _write(tmp_path, "cv-corpus-17.0-en/en/other.tsv", "client_id\tpath\tsentence\nz\tcommon_voice_en_9.mp3\tx\n"),
        _write(tmp_path, "cv-corpus-17.0-en/en/clips/common_voice_en_1.mp3", b"mp3"),
        _write(tmp_path, "cv-corpus-17.0-en/en/clips/common_voice_en_9.mp3", b"mp3"),
    ]
    monkeypatch.setattr(common_voice, "mp3_readable", lambda: False)
    with caplog.at_level(logging.INFO, logger="lumabench"):
        meta = common_voice_meta(tmp_path, sorted(files))
    assert meta == {
        "cv-corpus-17.0-en/en/clips/common_voice_en_1.mp3": speech_meta.SpeechMeta(
            'the "big" horse ran.', "common_voice:a1b2c3d4e5f6", None
        )
    }
    assert "cannot decode MP3" in caplog.text and "1 of 2 clips are validated" in caplog.text


def test_installed_soundfile_decodes_mp3():
    """Common Voice ships MP3: the pinned soundfile wheel's libsndfile must read it."""
    assert speech_meta.mp3_readable()
    buf = io.BytesIO()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(8000) / 16000).astype(np.float32)
    sf.write(buf, tone, 16000, format="MP3", subtype="MPEG_LAYER_III")
    buf.seek(0)
    audio, sr = sf.read(buf, dtype="float32")
    assert sr == 16000 and abs(len(audio) - 8000) < 2000 and np.max(np.abs(audio)) > 0.2


# ---------------------------------------------------------------- through the stage
def _speechlike(spans: list[tuple[float, float]], total_s: float, sr: int, seed: int) -> np.ndarray:
    """Voiced syllables exactly over `spans` (harmonics of a gliding f0 through two formant peaks,
    a syllabic amplitude envelope, 15 ms on/off ramps) over a faint noise floor."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 1e-4, round(total_s * sr))
    for i, (a, b) in enumerate(spans):
        n = round((b - a) * sr)
        t = np.arange(n) / sr
        f0 = 110.0 + 15 * i + 20.0 * t / max(t[-1], 1e-3)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        formants = (500.0 + 120 * (i % 3), 1500.0 + 200 * (i % 4))
        wave = np.zeros(n)
        for k in range(1, int(4000 / f0.max())):
            gain = sum(np.exp(-((((k * f0.mean()) - f) / 150.0) ** 2)) for f in formants) + 0.05
            wave += gain / k * np.sin(k * phase)
        ramp = min(round(0.015 * sr), n // 2)
        env = np.ones(n)
        env[:ramp] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
        env[n - ramp :] = env[:ramp][::-1]
        env *= 0.6 + 0.4 * np.sin(np.pi * t / t[-1])
        out[round(a * sr) : round(a * sr) + n] += 0.4 * env * wave / np.max(np.abs(wave))
    return out.astype(np.float32)


def _encoded(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    subtype = {"FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]
    sf.write(buf, audio, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


class _RecordingAligner:
    """Stands in for the CTC aligner: records what it is asked to align and refuses it."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def align(self, audio: np.ndarray, words: list[str], rng: object) -> list:
        self.calls.append(words)
        raise AlignmentError("test aligner")


LS = "LibriSpeech/dev-clean/84/121123/"
# shipped spans (seconds) of utterance 0000, from ALIGNMENT_TXT
LS_WORDS = [(0.4, 0.52), (0.52, 0.98), (1.2, 1.4), (1.4, 1.48), (1.48, 1.9)]
# Spoken Wikipedia article read in two parts: audio1.ogg 1.0 s, audio2.ogg 1.6 s
SWC_TWO_PART = (
    "<article><d><s><t>The<n pronunciation='the' start='200' end='500'/></t>"
    "<t>dog<n pronunciation='dog' start='550' end='900'/></t>"
    "<t>and<n pronunciation='and' start='1150' end='1350'/></t>"
    "<t>the<n pronunciation='the' start='1400' end='1550'/></t>"
    "<t>horse<n pronunciation='horse' start='1600' end='2100'/></t></s></d></article>"
)


def _archives(folder: Path) -> dict[str, Corpus]:
    """LibriSpeech (+ its alignments), Spoken Wikipedia and Common Voice archives in `folder`."""
    ls_audio = {
        "0000": _speechlike(LS_WORDS, 2.5, 16000, 1),
        "0001": _speechlike([(0.3, 0.6), (0.7, 1.2)], 1.6, 16000, 2),
    }
    members = {f"{LS}84-121123.trans.txt": b"84-121123-0000 A HORSE AND A DOG\n84-121123-0001 THE HORSE\n"}
    members |= {f"{LS}84-121123-{u}.flac": _encoded(a, 16000, "FLAC") for u, a in ls_audio.items()}
    (folder / "dev-clean.tar.gz").write_bytes(_tar(members))
    (folder / "librispeech_alignments.zip").write_bytes(
        _zip({"dev-clean/84/84-121123.alignment.txt": ALIGNMENT_TXT.encode()})
    )
    part1 = _speechlike([(0.2, 0.5), (0.55, 0.9)], 1.0, 22050, 3)
    part2 = _speechlike([(0.15, 0.35), (0.4, 0.55), (0.6, 1.1)], 1.6, 22050, 4)
    swc = {
        "english/Dog/audio1.ogg": _encoded(part1, 22050, "OGG"),
        "english/Dog/audio2.ogg": _encoded(part2, 22050, "OGG"),
        "english/Dog/aligned.swc": SWC_TWO_PART.encode(),
        "english/Dog/audiometa.txt": b"reader.user_name = Jane Doe\n",
    }
    (folder / "SWC_English.tar").write_bytes(_tar(swc))
    cv_clip = _encoded(_speechlike([(0.2, 0.6)], 1.0, 32000, 5), 32000, "MP3")
    cv = {
        "cv-corpus-17.0-en/en/validated.tsv": VALIDATED.encode(),
        "cv-corpus-17.0-en/en/clips/common_voice_en_1.mp3": cv_clip,
        "cv-corpus-17.0-en/en/clips/common_voice_en_7.mp3": cv_clip,  # not validated
    }
    (folder / "cv-corpus-17.0-en.tar.gz").write_bytes(_tar(cv))

    def src(corpus: str, name: str, **kw: object) -> FileSource:
        return FileSource(corpus, name, PUBLISHER + name, "test-licence", **kw)

    return {
        "librispeech": Corpus(
            "librispeech",
            PUBLISHER,
            (
                src("librispeech", "dev-clean.tar.gz", creates="LibriSpeech/dev-clean"),
                src("librispeech", "librispeech_alignments.zip", extract_to="alignments", creates="alignments"),
            ),
        ),
        "spoken_wikipedia": Corpus("spoken_wikipedia", PUBLISHER, (src("spoken_wikipedia", "SWC_English.tar"),)),
        "common_voice": Corpus(
            "common_voice",
            PUBLISHER,
            (FileSource("common_voice", "cv-corpus-en.tar.gz", None, "CC0-1.0", manual="x", pattern="cv-*-en.tar*"),),
        ),
    }


def test_manifest_carries_speech_metadata_and_the_audio_stage_cuts_with_shipped_timings(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "by-hand"
    folder.mkdir()
    corpora = _archives(folder)
    monkeypatch.setattr(full, "registry", _fake_registry(corpora))
    paths = Paths(tmp_path / "project", "full")
    params = _params(sources=list(corpora), mirrors={PUBLISHER: _closed_port_url()}, import_from=str(folder))
    full.build_full(params, paths)

    rows = {r["path"].removeprefix("data/full/raw/"): r for r in pq.read_table(paths.manifest).to_pylist()}
    utt0 = rows[f"librispeech/{LS}84-121123-0000.flac"]
    assert (utt0["kind"], utt0["transcript"], utt0["speaker"]) == ("speech", "a horse and a dog", "librispeech:84")
    assert [(t["word"], t["start_s"], t["end_s"]) for t in utt0["word_timings"]] == [
        (w, a, b) for w, (a, b) in zip(["a", "horse", "and", "a", "dog"], LS_WORDS, strict=True)
    ]
    utt1 = rows[f"librispeech/{LS}84-121123-0001.flac"]
    assert (utt1["transcript"], utt1["word_timings"]) == ("the horse", None)
    assert rows["librispeech/alignments/dev-clean/84/84-121123.alignment.txt"]["kind"] == "alignment"
    assert rows[f"librispeech/{LS}84-121123.trans.txt"]["speaker"] is None
    part2 = rows["spoken_wikipedia/english/Dog/audio2.ogg"]
    assert (part2["transcript"], part2["speaker"]) == ("and the horse", "spoken_wikipedia:Jane Doe")
    assert [t["start_s"] for t in part2["word_timings"]] == [0.15, 0.4, 0.6]
    assert rows["spoken_wikipedia/english/Dog/aligned.swc"]["kind"] == "alignment"
    cv1 = rows["common_voice/cv-corpus-17.0-en/en/clips/common_voice_en_1.mp3"]
    assert (cv1["transcript"], cv1["speaker"]) == ('the "big" horse ran.', "common_voice:a1b2c3d4e5f6")
    cv7 = rows["common_voice/cv-corpus-17.0-en/en/clips/common_voice_en_7.mp3"]
    assert (cv7["kind"], cv7["transcript"], cv7["speaker"]) == ("speech", None, None)

    # the audio stage (full profile: shipped timings from librispeech and spoken_wikipedia)
    aligner = _RecordingAligner()
    # the module, not the `extract` function that `lumabench.audio` exports under the same name
    monkeypatch.setattr(importlib.import_module("lumabench.audio.extract"), "make_aligner", lambda s: aligner)
    assert params.audio.word_timings_from == ["librispeech", "spoken_wikipedia"]
    sink = ClipSink(tmp_path / "clips")
    with caplog.at_level(logging.INFO, logger="lumabench"):
        report = extract(params, paths, sink)

    # only files without shipped timings reach the aligner: LibriSpeech 0001 and the validated CV clip
    assert sorted(aligner.calls) == [["the", "big", "horse", "ran"], ["the", "horse"]]
    assert {s["path"].rsplit("/", 1)[-1] for s in report["skipped"]} == {"84-121123-0001.flac", "common_voice_en_1.mp3"}
    assert report["files"] == 6 and report["files_without_class_words"] == 1  # cv 7: no transcript
    margin = params.audio.margin_s
    clips = {(PurePosixPath(r["source_path"]).name, r["label"]): r for r in sink.rows}
    expected = {
        ("84-121123-0000.flac", "horse"): LS_WORDS[1],
        ("84-121123-0000.flac", "dog"): LS_WORDS[4],
        ("audio1.ogg", "dog"): (0.55, 0.9),
        ("audio2.ogg", "horse"): (0.6, 1.1),  # 1.6-2.1 s of the article, minus audio1.ogg's 1.0 s
    }
    assert sorted(clips) == sorted(expected)
    for key, (start, end) in expected.items():
        clip = clips[key]
        assert start - margin - 1e-6 <= clip["start_s"] <= start + 0.02, (key, clip["start_s"])
        assert end - 0.02 <= clip["end_s"] <= end + margin + 1e-6, (key, clip["end_s"])
        assert clip["duration_s"] == pytest.approx(clip["end_s"] - clip["start_s"], abs=1e-4)
        assert clip["align_score"] == 0.0  # shipped spans carry no aligner score
    assert clips[("audio2.ogg", "horse")]["speaker"] == "spoken_wikipedia:Jane Doe"
    assert clips[("84-121123-0000.flac", "dog")]["speaker"] == "librispeech:84"
