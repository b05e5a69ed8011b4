"""Stage 2 (`lumabench audio`): word search, clip cutting, alignment accuracy, outputs, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import soundfile as sf

from lumabench import classes
from lumabench.audio import run
from lumabench.audio.accuracy import boundary_errors, reference_spans, sound_between
from lumabench.audio.align_sphinx import echo_free_end
from lumabench.audio.align_types import AlignmentError, WordSpan
from lumabench.audio.clips import (
    SourceError,
    active_bounds,
    cell_db,
    cut_clip,
    frame_db,
    load_mono,
    normalise,
    read_mono,
    wav_bytes,
)
from lumabench.audio.extract import Job, Settings, process
from lumabench.audio.words import class_of, class_tokens, tokenize
from lumabench.errors import InputError, MissingDependencyError
from lumabench.io import read_parquet, write_parquet
from lumabench.params import Params, load_params
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, MANIFEST
from test_audio_fixture import DECOYS, SENTENCES, VOICES, build_corpus
from tiny_models import tiny_wav2vec2

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
SR = 16000


def params(*overrides: str) -> Params:
    return load_params(PARAMS, ["variants.train_per_class=1", "variants.test_per_class=1", *overrides])


# ------------------------------------------------------------------ word search
def test_every_class_form_matches_its_class() -> None:
    for cls in classes.CLASSES:
        for form in cls.forms:
            assert class_of(form).name == cls.name
            assert class_of(form.upper()).name == cls.name


@pytest.mark.parametrize(
    "word",
    [
        "cathedral",
        "catalog",
        "category",
        "scat",
        "seahorse",
        "horsepower",
        "manly",
        "shipment",
        "beds"[:-1] + "roll",
        "trains" + "et",
    ],
)
def test_longer_words_are_not_class_words(word: str) -> None:
    assert class_of(word) is None


def test_tokenize_finds_inflections_possessives_and_skips_compounds() -> None:
    toks = tokenize("The cat's cathedral: two HORSES' sea-horse, mice, busses and women; Rays!")
    assert [t.text for t in toks] == [
        "the", "cat's", "cathedral", "two", "horses", "sea", "horse", "mice", "busses", "and", "women", "rays",
    ]  # fmt: skip
    assert [(t.text, t.label) for t in class_tokens(toks)] == [
        ("cat's", "cat"), ("horses", "horse"), ("mice", "mouse"), ("busses", "bus"), ("women", "woman"),
        ("rays", "ray"),
    ]  # fmt: skip
    assert [t.index for t in toks] == list(range(len(toks)))


def test_tokenize_rejects_digits() -> None:
    with pytest.raises(ValueError, match="digits"):
        tokenize("I saw 2 dogs")


# ------------------------------------------------------------------ clips
def _tone(seconds: float, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_cut_clip_trims_silence_and_normalises() -> None:
    audio = np.concatenate([np.zeros(SR // 2, np.float32), _tone(0.3), np.zeros(SR // 2, np.float32)])
    clip = cut_clip(audio, 0.4, 0.9, margin_s=0.04, top_db=40.0, target_dbfs=-20.0)
    assert clip is not None
    # trimming keeps the whole sound and at most one analysis frame (20 ms) of silence per side
    assert 0.48 <= clip.start_s <= 0.5 and 0.8 <= clip.end_s <= 0.82
    assert clip.duration_s == pytest.approx(clip.end_s - clip.start_s, abs=1e-9)
    rms_db = 20 * np.log10(np.sqrt(np.mean(clip.audio.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-20.0, abs=0.5)


def test_normalise_never_clips() -> None:
    spiky = np.zeros(SR // 2, np.float32)
    spiky[::400] = 0.9
    out = normalise(spiky + _tone(0.5, amp=0.001), target_dbfs=-3.0, top_db=40.0)
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6


def test_silent_segment_gives_no_clip() -> None:
    assert cut_clip(np.zeros(SR, np.float32), 0.2, 0.6, 0.04, 40.0, -20.0) is None
    assert active_bounds(np.zeros(SR, np.float32), 40.0) == (0, 0)


def test_frame_db_of_a_full_scale_sine() -> None:
    db, frame, hop = frame_db(_tone(0.2, freq=250.0, amp=1.0))  # 5 periods per frame
    assert (frame, hop) == (320, 80)
    assert np.allclose(db, 10 * np.log10(0.5), atol=0.05)


def test_read_mono_converts_rate_and_channels(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "s.wav", stereo, 44100)
    mono = read_mono(tmp_path / "s.wav")
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert len(mono) == pytest.approx(SR, abs=2)
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.argmax(spectrum) * SR / len(mono) == pytest.approx(440, abs=2)


def test_read_mono_reports_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(SourceError, match="unreadable audio"):
        read_mono(tmp_path / "bad.wav")


def test_load_mono_is_read_mono_and_names_a_bad_file(tmp_path: Path) -> None:
    """The later stages' reader: the same samples as `read_mono`, contiguous; an unusable file is one
    `InputError` line naming it and the stage to re-run (not the audio stage's skip-and-report)."""
    stereo = np.stack([_tone(0.1), _tone(0.1)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 22050)
    got = load_mono(tmp_path / "s.wav")
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_array_equal(got, read_mono(tmp_path / "s.wav"))
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(InputError) as info:
        load_mono(tmp_path / "bad.wav")
    line = str(info.value)
    assert "unreadable audio" in line and str(tmp_path / "bad.wav") in line and "re-run the stage" in line
    assert "\n" not in line


def test_wav_bytes_are_16k_mono_pcm16_and_stable(tmp_path: Path) -> None:
    a = _tone(0.25)
    data = wav_bytes(a)
    assert data == wav_bytes(a.copy())
    (tmp_path / "c.wav").write_bytes(data)
    info = sf.info(tmp_path / "c.wav")
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")


# ------------------------------------------------------------------ shipped alignments
class _NoAligner:
    def align(self, *args: object) -> None:
        raise AssertionError("a corpus with shipped word timings must not be force-aligned")


def _two_words(path: Path, first: str) -> tuple[list[dict], Settings]:
    """A file with two tones (0.25-0.55 s, 0.80-1.20 s), timings naming them `first` and horse."""
    silence = np.zeros(SR // 4, np.float32)
    sf.write(path, np.concatenate([silence, _tone(0.3), silence, _tone(0.4, 330.0), silence]), SR, subtype="PCM_16")
    timings = [{"word": first, "start_s": 0.25, "end_s": 0.55}, {"word": "horse", "start_s": 0.80, "end_s": 1.20}]
    corpora = ("librispeech", "spoken_wikipedia")
    return timings, Settings(42, "pocketsphinx", "", "", 0.04, 0.15, 1.2, -20.0, 40.0, corpora)


def test_shipped_word_timings_are_cut_as_is(tmp_path: Path) -> None:
    timings, settings = _two_words(tmp_path / "ls.wav", "the")
    job = Job("ls.wav", str(tmp_path / "ls.wav"), "The horse.", "librispeech", "1-2", "librispeech", timings)
    result = process(job, settings, _NoAligner())
    assert result.failure is None and [r["label"] for r in result.rows] == ["horse"]
    assert 0.78 <= result.rows[0]["start_s"] <= 0.80 and 1.2 <= result.rows[0]["end_s"] <= 1.22
    assert result.errors == []
    # incomplete shipped timings fall back to the aligner
    partial = Job("ls.wav", str(tmp_path / "ls.wav"), "The horse.", "librispeech", "1-2", "librispeech", timings[1:])
    with pytest.raises(AssertionError, match="must not be force-aligned"):
        process(partial, settings, _NoAligner())


def test_shipped_compound_word_is_split_into_its_tokens(tmp_path: Path) -> None:
    """A hyphenated word of a corpus alignment ("x-ray") still lets the file be cut with its timings."""
    timings, settings = _two_words(tmp_path / "swc.wav", "x-ray")
    job = Job("swc.wav", str(tmp_path / "swc.wav"), "X-ray horse", "spoken_wikipedia", "r", "swc", timings)
    result = process(job, settings, _NoAligner())  # the aligner raises if it is asked
    assert result.failure is None and [r["label"] for r in result.rows] == ["horse"]
    assert 0.78 <= result.rows[0]["start_s"] <= 0.80
    tokens = tokenize("X-ray horse")
    spans = reference_spans(tokens, timings)
    assert spans[0] == pytest.approx((0.25, 0.325)) and spans[1] == pytest.approx((0.325, 0.55))  # x | ray
    assert spans[2] == (0.80, 1.20)


def test_file_too_long_to_align_is_reported_not_aligned(tmp_path: Path) -> None:
    audio = np.concatenate([np.zeros(SR, np.float32), _tone(0.4), np.zeros(SR, np.float32)])
    sf.write(tmp_path / "long.wav", audio, SR, subtype="PCM_16")
    settings = Settings(42, "pocketsphinx", "", "", 0.04, 0.15, 1.2, -20.0, 40.0, (), max_align_s=2.0)
    job = Job("long.wav", str(tmp_path / "long.wav"), "a horse", "spoken_wikipedia", "r", "swc", None)
    result = process(job, settings, _NoAligner())  # the aligner raises if it is asked
    assert result.rows == [] and "longer than audio.max_align_s = 2 s" in (result.failure or "")


# ------------------------------------------------------------------ CTC aligner (no weights needed)
def test_ctc_word_spans_follow_the_emission() -> None:
    torch = pytest.importorskip("torch")
    from lumabench.audio.align_ctc import ctc_word_spans

    labels = ("-", "|", "A", "C", "T", "O", "G", "D")
    # frames: blanks, "CAT" at 5-10, separator at 12, "DOG" at 15-22, blanks
    plan = (
        ["-"] * 5
        + ["C", "C", "A", "A", "T", "T"]
        + ["-", "|", "-", "-"]
        + ["D", "D", "O", "O", "O", "G", "G", "G"]
        + ["-"] * 5
    )
    lp = torch.full((len(plan), len(labels)), -8.0)
    for i, ch in enumerate(plan):
        lp[i, labels.index(ch)] = -0.01
    spans = ctc_word_spans(lp, ["cat", "dog"], labels, blank=0, seconds_per_frame=0.02)
    assert [s.word for s in spans] == ["cat", "dog"]
    assert spans[0].start_s == pytest.approx(5 * 0.02) and spans[0].end_s == pytest.approx(11 * 0.02)
    assert spans[1].start_s == pytest.approx(15 * 0.02) and spans[1].end_s == pytest.approx(23 * 0.02)
    assert all(-0.1 < s.score <= 0 for s in spans)
    with pytest.raises(AlignmentError, match="too short"):
        ctc_word_spans(lp[:4], ["cat", "dog"], labels, blank=0, seconds_per_frame=0.02)


def test_ctc_aligner_runs_a_wav2vec2_model_end_to_end() -> None:
    """The aligner's model -> emission -> spans path, with a tiny untrained wav2vec2 (no download)."""
    pytest.importorskip("torch")
    torchaudio = pytest.importorskip("torchaudio")
    from lumabench.audio.align_ctc import CtcAligner

    labels = tuple(torchaudio.pipelines.WAV2VEC2_ASR_BASE_960H.get_labels())
    model = tiny_wav2vec2(len(labels))
    aligner = object.__new__(CtcAligner)
    aligner.device, aligner.labels, aligner.model = "cpu", labels, model
    audio = np.concatenate([_tone(0.5), _tone(0.5, 330.0)])
    spans = aligner.align(audio, ["cat", "dog"], np.random.default_rng(0))
    assert [s.word for s in spans] == ["cat", "dog"]
    assert 0.0 <= spans[0].start_s < spans[0].end_s <= spans[1].start_s < spans[1].end_s <= 1.0 + 1e-6
    assert aligner.missing_words(["cat", "123"]) == ["123"]


def test_ctc_aligner_without_cached_weights_says_how_to_fix(tmp_path: Path) -> None:
    pytest.importorskip("torchaudio")
    from lumabench.audio.align_ctc import CtcAligner

    with pytest.raises(MissingDependencyError) as err:
        CtcAligner("WAV2VEC2_ASR_BASE_960H", tmp_path / "models")
    assert "wav2vec2_fairseq_base_ls960_asr_ls960.pth" in err.value.one_line()
    assert "corpora" in err.value.one_line()


# ------------------------------------------------------------------ alignment accuracy and echo tails
def test_boundary_error_ignores_silence_between_the_boundaries() -> None:
    """A start 5 ms inside the previous vowel, before a 50 ms stop closure, is a 5 ms error, not 55 ms."""
    vowel, closure, word = _tone(0.3), np.zeros(int(0.05 * SR), np.float32), _tone(0.3, freq=330.0)
    audio = np.concatenate([vowel, closure, word])
    tokens = tokenize("the cat")
    timings = [{"word": "the", "start_s": 0.0, "end_s": 0.3}, {"word": "cat", "start_s": 0.3, "end_s": 0.65}]
    spans = [WordSpan("the", 0.0, 0.295, 0.0), WordSpan("cat", 0.295, 0.65, 0.0)]
    (err,) = boundary_errors("espeak-ng", "en", audio, tokens, spans, timings, top_db=40.0)
    assert err.start == pytest.approx(0.005, abs=1e-9) and err.start_trimmed == pytest.approx(0.005, abs=1e-9)
    # a start anywhere inside the closure is the same clip: only the 5 ms cell at each edge of the
    # closure, which the 10 ms energy window reaches, counts; 50 ms into the word counts 50 ms more
    late = [spans[0], WordSpan("cat", 0.33, 0.65, 0.0)]
    assert boundary_errors("e", "s", audio, tokens, late, timings, 40.0)[0].start_trimmed <= 0.005
    inside = [spans[0], WordSpan("cat", 0.40, 0.65, 0.0)]
    assert boundary_errors("e", "s", audio, tokens, inside, timings, 40.0)[0].start_trimmed == pytest.approx(
        0.06, abs=1e-9
    )
    # sound quieter than top_db below the reference word does not count either
    assert sound_between(cell_db(audio), 0.31, 0.34, floor_db=-200.0) == pytest.approx(0.03)


def test_echo_tail_is_cut_from_the_word_end() -> None:
    """espeak-ng's `echo 130 15` variants: a 15 % copy of the last 130 ms follows the word into the pause."""
    word = np.concatenate([_tone(0.2, amp=0.5), _tone(0.13, freq=330.0, amp=0.15)])  # a vowel, a weaker ending
    pause = np.zeros(int(0.1 * SR), np.float32)
    echoed = np.concatenate([word, 0.15 * word[-int(0.13 * SR) :], pause])
    assert echo_free_end(echoed, cell_db(echoed), 0.0, 0.46) == pytest.approx(0.33, abs=0.005)
    assert echo_free_end(echoed, cell_db(echoed), 0.0, 0.33) == 0.33  # no tail: unchanged
    # as quiet, but no copy of what came before: a word-final consonant (noise), a stop (closure, burst)
    noise = np.random.default_rng(0).standard_normal(int(0.13 * SR)).astype(np.float32)
    for ending in (0.01 * noise, np.concatenate([np.zeros(int(0.06 * SR), np.float32), 0.02 * noise])):
        audio = np.concatenate([word, ending, pause])
        end = len(np.concatenate([word, ending])) / SR
        assert echo_free_end(audio, cell_db(audio), 0.0, end) == end
    # a consonant only 15 dB below the vowel, and a gradual fade, are never tails
    for ending in (0.09 * noise, _tone(0.1, amp=0.5) * 10 ** (-np.arange(int(0.1 * SR)) / 640).astype(np.float32)):
        audio = np.concatenate([_tone(0.2, amp=0.5), ending, pause])
        end = len(np.concatenate([_tone(0.2, amp=0.5), ending])) / SR
        assert echo_free_end(audio, cell_db(audio), 0.0, end) == end


# ------------------------------------------------------------------ the stage on synthesised speech
@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audio")
    build_corpus(root, SENTENCES + DECOYS, VOICES, corrupt=True)
    return root


@pytest.fixture(scope="module")
def stage_out(corpus: Path) -> Path:
    run(params("audio.workers=2"), Paths(corpus, "mini"))
    return corpus / "data" / "mini" / "interim" / "audio"


def test_stage_writes_schema_clips_and_report(corpus: Path, stage_out: Path) -> None:
    table = read_parquet(stage_out / "clips.parquet", CLIPS)
    df = table.to_pandas()
    assert df["clip_id"].is_unique and list(df["clip_id"]) == sorted(df["clip_id"])
    # every in-distribution class is found once per voice; decoys never are
    counts = df["label"].value_counts()
    for cls in classes.ID_CLASSES:
        assert counts.get(cls.name, 0) >= len(VOICES), cls.name
    decoy_sources = {f"data/mini/raw/speech/espeak-{v}-{len(SENTENCES):02d}.wav" for v in range(len(VOICES))}
    assert not set(df["source_path"]) & decoy_sources
    cfg = params().audio
    assert df["duration_s"].between(cfg.min_duration_s, cfg.max_duration_s).all()
    assert (df["sample_rate"] == SR).all() and (df["end_s"] > df["start_s"]).all()
    for row in df.head(10).itertuples():
        audio, sr = sf.read(corpus / row.path, dtype="float32")
        assert sr == SR and audio.ndim == 1
        assert len(audio) / SR == pytest.approx(row.duration_s, abs=1e-3)
        active = frame_db(audio)[0]
        active = active[active > active.max() - cfg.trim_db]
        assert 10 * np.log10(np.mean(10 ** (active / 10))) == pytest.approx(cfg.loudness_dbfs, abs=1.5)
    report = json.loads((stage_out / "report.json").read_text())
    assert report["skipped"] == [
        {
            "path": "data/mini/raw/speech/corrupt.wav",
            "reason": "unreadable audio (Error in WAV file. No 'data' chunk marker.)",
        }
    ]
    assert report["clips"] == len(df)


def test_alignment_matches_engine_word_timings(stage_out: Path) -> None:
    acc = json.loads((stage_out / "report.json").read_text())["alignment_accuracy"]["espeak-ng"]
    assert acc["words"] >= len(classes.ID_CLASSES) * len(VOICES)
    assert acc["mean_abs_ms"] <= 30.0
    assert acc["within_50ms"] >= 0.95
    assert acc["raw_mean_abs_ms"] <= 30.0
    assert acc["raw_within_50ms"] >= 0.95


def test_clip_contains_the_word(corpus: Path, stage_out: Path) -> None:
    """Each clip lies inside the engine's span of its word, give or take the 50 ms tolerance."""
    df = pd.read_parquet(stage_out / "clips.parquet")
    manifest = read_parquet(corpus / "data/mini/raw/manifest.parquet").to_pylist()
    spans = {r["path"]: r["word_timings"] for r in manifest}
    inside = 0
    for row in df.itertuples():
        idx = int(row.clip_id.rsplit("-", 1)[1])
        tok = tokenize(next(r["transcript"] for r in manifest if r["path"] == row.source_path))[idx]
        ref = [t for t in spans[row.source_path] if tokenize(t["word"]) and tokenize(t["word"])[0].text == tok.text]
        inside += any(t["start_s"] - 0.05 <= row.start_s and row.end_s <= t["end_s"] + 0.05 for t in ref)
    assert inside / len(df) >= 0.95


def test_rerun_is_byte_identical_with_any_worker_count(corpus: Path, stage_out: Path) -> None:
    before = {p.relative_to(stage_out): p.read_bytes() for p in sorted(stage_out.rglob("*")) if p.is_file()}
    run(params("audio.workers=1"), Paths(corpus, "mini"))
    after = {p.relative_to(stage_out): p.read_bytes() for p in sorted(stage_out.rglob("*")) if p.is_file()}
    assert before.keys() == after.keys()
    assert all(before[k] == after[k] for k in before)


def test_too_few_clips_fails_and_writes_nothing(corpus: Path, tmp_path: Path) -> None:
    paths = Paths(corpus, "mini")
    before = (paths.clips).read_bytes()
    with pytest.raises(InputError, match=r"too few clips for 42 .*need 20.*cat 5"):
        run(load_params(PARAMS, ["variants.train_per_class=15", "variants.test_per_class=5", "audio.workers=1"]), paths)
    assert paths.clips.read_bytes() == before


def test_missing_or_speechless_manifest_is_one_clear_error(tmp_path: Path) -> None:
    paths = Paths(tmp_path, "mini")
    with pytest.raises(InputError, match="missing input"):
        run(params(), paths)
    write_parquet(paths.manifest, pa.Table.from_pylist([], schema=MANIFEST), MANIFEST)
    with pytest.raises(InputError, match="no speech"):
        run(params(), paths)


# ------------------------------------------------------------------ LUMA release import
def test_luma_release_import(tmp_path: Path) -> None:
    audio_dir = tmp_path / "data" / "full" / "raw" / "luma" / "audio"
    rows = []
    names = [c.name for c in classes.ID_CLASSES] * 2
    for i, label in enumerate(names):
        sub = ["cv_audio", "ls_audio", "sw_audio"][i % 3]
        (audio_dir / sub).mkdir(parents=True, exist_ok=True)
        t = np.arange(int(0.4 * 44100)) / 44100
        tone = np.concatenate([np.zeros(4410), 0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t), np.zeros(4410)])
        sf.write(audio_dir / sub / f"{i}.wav", np.stack([tone, 0.5 * tone], axis=1), 44100)
        rows.append({"path": f"{sub}/{i}.wav", "label": label})
    rows.append({"path": "cv_audio/missing.wav", "label": "cat"})
    rows.append({"path": "cv_audio/0.wav", "label": "unicorn"})
    with (audio_dir / "datalist.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label"])
        w.writeheader()
        w.writerows(rows)
    p = load_params(PARAMS, ["profile=full", "audio.source=luma_release", "audio.workers=1",
                             "variants.train_per_class=1", "variants.test_per_class=1"])  # fmt: skip
    run(p, Paths(tmp_path, "full"))
    out = tmp_path / "data" / "full" / "interim" / "audio"
    df = pd.read_parquet(out / "clips.parquet")
    assert len(df) == len(names)
    assert set(df["corpus"]) == {"common_voice", "librispeech", "spoken_wikipedia"}
    assert df["duration_s"].between(0.4, 0.44).all()
    assert df["start_s"].between(0.08, 0.1).all()
    assert (df["align_score"] == 0.0).all()
    report = json.loads((out / "report.json").read_text())
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons["data/full/raw/luma/audio/cv_audio/0.wav"] == "unknown label 'unicorn'"
    assert reasons["data/full/raw/luma/audio/cv_audio/missing.wav"] == "file not found"
