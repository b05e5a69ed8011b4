"""Stage 4 filters on crafted inputs: text checks, MinHash near-duplicates, audio signal checks,
closed-set recognition, image exact/near duplicates, and the overrides reader."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from lumabench.annotate.audio_filters import Heard, check_clip, measure, recognise
from lumabench.annotate.image_filters import duplicates, near_pairs, phash, pixel_sha256
from lumabench.annotate.minhash import band_rows, jaccard, near_duplicates, shingles
from lumabench.annotate.overrides import read_overrides
from lumabench.annotate.text_filters import check_text, class_mentions, garbage_reason
from lumabench.errors import InputError
from lumabench.params import AudioFilter, TextFilter

CFG = TextFilter()
HORSE = (
    "A horse is a large animal with a long mane. The horse galloped across the meadow while the riders "
    "watched. Horses have been kept by people for thousands of years."
)


# ------------------------------------------------------------------ text
def test_class_mentions_count_whole_words_and_inflections() -> None:
    m = class_mentions("Two men and a man saw mice, a mouse, horses. Horseshoe, manly, Catalonia, cat's tail.")
    assert m == {"man": 2, "mouse": 2, "horse": 1, "cat": 1}


def test_text_checks_accept_a_good_passage() -> None:
    assert check_text(HORSE, "horse", CFG) is None


@pytest.mark.parametrize(
    ("text", "label", "filt", "fragment"),
    [
        ("", "horse", "garbage", "empty"),
        ("#### 1234 5678 //// $$$$ %%%% horse 9999 0000 ****", "horse", "garbage", "letters"),
        ("xkcd qrst bcdf ghjk lmnp horse qwrt zxcv bnml prst dfgh", "horse", "garbage", "no vowel"),
        ("horse " * 30, "horse", "garbage", "repetitive"),
        (
            "A horse\x00 is here with many more words to pass the length check easily today.",
            "horse",
            "garbage",
            "control",
        ),
        ("A horse is nice.", "horse", "length", "4 words"),
        (
            "A big animal with a long mane galloped across the meadow while the riders watched it go.",
            "horse",
            "own_class",
            "never names",
        ),
        (
            "A horse stood next to a dog. The dog barked at the dog next door while the horse slept.",
            "horse",
            "other_class",
            "'dog' 3x",
        ),
        (
            "A horse and a horse and a horse met a cat, a dog, a fox and a bee in a wide green meadow.",
            "horse",
            "other_class",
            "4 mentions",
        ),
    ],
)
def test_text_checks_reject_crafted_failures(text: str, label: str, filt: str, fragment: str) -> None:
    got = check_text(text, label, CFG)
    assert got is not None and got[0] == filt and fragment in got[1], got


def test_length_bounds_are_params() -> None:
    assert check_text(HORSE, "horse", TextFilter(min_words=5, max_words=10)) == ("length", "30 words (allowed 5-10)")
    assert garbage_reason("Plain words only here.", CFG) is None


def test_minhash_finds_near_duplicates_and_keeps_the_first() -> None:
    base = [
        f"Text number {i} talks about a {w} that lives near a quiet {p} and likes to {a} every single morning."
        for i, (w, p, a) in enumerate(
            [("horse", "farm", "run"), ("camel", "oasis", "rest"), ("whale", "coast", "dive")]
        )
    ]
    near = base[1].replace("every single morning", "every single evening")  # one word changed
    texts = [base[0], base[1], near, base[2], base[1]]  # exact copy last
    rng = np.random.default_rng(0)
    dropped = near_duplicates(texts, threshold=0.7, n_perm=64, k=3, rng=rng)
    assert set(dropped) == {2, 4}
    assert dropped[4] == (1, 1.0)
    assert dropped[2][0] == 1 and 0.7 <= dropped[2][1] < 1.0
    assert jaccard(shingles(base[1], 3), shingles(near, 3)) == pytest.approx(dropped[2][1])
    # a higher threshold keeps the edited copy, drops the exact one
    assert set(near_duplicates(texts, 0.95, 64, 3, np.random.default_rng(0))) == {4}


def test_minhash_estimate_tracks_jaccard() -> None:
    from lumabench.annotate.minhash import signatures

    a = frozenset(range(0, 300))
    b = frozenset(range(100, 400))  # J = 200/400 = 0.5
    sig = signatures([a, b], 512, np.random.default_rng(1))
    assert float(np.mean(sig[0] == sig[1])) == pytest.approx(0.5, abs=0.07)
    assert band_rows(64, 0.85) >= 2


# ------------------------------------------------------------------ audio
SR = 16000


def _tone(seconds: float, amp: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def test_audio_measurements() -> None:
    s = measure(_tone(0.5, 0.1), SR)
    assert s.duration_s == pytest.approx(0.5)
    assert s.rms_dbfs == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.05)
    assert s.clipped_fraction == 0.0
    square = np.sign(_tone(0.5, 1.0))
    assert measure(square, SR).clipped_fraction > 0.9
    assert measure(np.zeros(800), SR).rms_dbfs == -math.inf


@pytest.mark.parametrize(
    ("audio", "score", "filt"),
    [
        (_tone(0.5, 0.1), 0.0, None),
        (_tone(0.05, 0.1), 0.0, "duration"),
        (_tone(2.0, 0.1), 0.0, "duration"),
        (_tone(0.5, 0.001), 0.0, "silence"),
        (np.clip(_tone(0.5, 3.0), -1, 1), 0.0, "clipping"),
        (_tone(0.5, 0.1), -50.0, "align_score"),
        (_tone(0.5, 0.1), float("nan"), "align_score"),
    ],
)
def test_audio_checks(audio: np.ndarray, score: float, filt: str | None) -> None:
    got = check_clip(measure(audio, SR), score, AudioFilter(min_align_score=-10.0))
    assert (got[0] if got else None) == filt


def _espeak(tmp_path: Path, word: str) -> Path:
    from scipy.signal import resample_poly

    raw = tmp_path / f"{word}-22k.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), word], check=True)
    x, sr = sf.read(raw)
    path = tmp_path / f"{word}.wav"
    sf.write(path, resample_poly(x, SR, sr), SR, subtype="PCM_16")
    return path


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_recognition_hears_the_class_word(tmp_path: Path) -> None:
    items = [(w, _espeak(tmp_path, w), w) for w in ("camel", "whale", "dog")]
    heard = recognise(items, seed=42, workers=1)
    assert heard == [Heard("camel"), Heard("whale"), Heard("dog")]  # heard as expected: nothing to confirm
    assert recognise(items[::-1], seed=42, workers=1) == heard[::-1]  # order does not matter
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).normal(0, 0.05, SR // 2), SR)
    got = recognise([("n", noise, None)], 42, 1)[0]
    assert got.word != "camel" or got.word is None  # not a free pass: some word or none, decided by the audio
    assert not got.confirmed  # no expected class, nothing to overrule


@needs_espeak
def test_another_word_is_confirmed_only_above_the_likelihood_ratio(tmp_path: Path) -> None:
    whale, horse = _espeak(tmp_path, "whale"), _espeak(tmp_path, "horse")
    items = [("whale", whale, "camel"), ("horse", horse, "horse")]
    by_ratio = {r: recognise(items, 42, 1, r) for r in (0.0, 10.0, 20.0, 35.0)}
    # a clear "whale" beats "camel" by more than 10^35: rejected at every threshold
    assert [h[0] for h in by_ratio.values()] == [Heard("whale", True)] * 4
    # espeak's "horse" sounds like "boy" to the model, but not by 10^20: head to head it loses
    assert [h[1] for h in by_ratio.values()] == [Heard("boy", True)] * 2 + [Heard("boy", False)] * 2


@needs_espeak
def test_a_clip_is_heard_the_same_whatever_was_decoded_before(tmp_path: Path) -> None:
    from lumabench.annotate.audio_filters import read_mono
    from lumabench.annotate.recognize import ClassWordRecognizer

    rec = ClassWordRecognizer()
    data = {w: rec.pcm(*read_mono(_espeak(tmp_path, w)), np.random.default_rng(0)) for w in ("dog", "whale")}
    loud = rec.pcm(np.random.default_rng(1).normal(0, 0.3, SR), SR, np.random.default_rng(2))
    rec.hear_pcm(data["dog"])
    first = rec.decoder.hyp().score
    for other in (loud, data["whale"], loud):
        rec.hear_pcm(other)
    rec.hear_pcm(data["dog"])
    assert rec.decoder.hyp().score == first  # the front end keeps no estimate from earlier clips


# ------------------------------------------------------------------ images
def _img(seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    base = r.integers(0, 256, size=(5, 5, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((32, 32), Image.Resampling.BICUBIC))  # smooth 32x32


def test_phash_is_stable_under_small_changes_and_differs_otherwise() -> None:
    a = _img(1)
    brighter = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)
    noisy = np.clip(a.astype(int) + np.random.default_rng(9).integers(-2, 3, a.shape), 0, 255).astype(np.uint8)
    ha, hb, hn, hc = phash(a), phash(brighter), phash(noisy), phash(_img(2))
    assert bin(ha ^ hb).count("1") <= 2 and bin(ha ^ hn).count("1") <= 2
    assert bin(ha ^ hc).count("1") > 10
    assert pixel_sha256(a) != pixel_sha256(brighter)
    assert pixel_sha256(a) == pixel_sha256(a.copy())


def test_near_pairs_matches_brute_force() -> None:
    r = np.random.default_rng(3)
    base = [int(x) for x in r.integers(0, 2**63, size=40, dtype=np.int64)]
    hashes = base + [b ^ (1 << int(r.integers(64))) ^ (1 << int(r.integers(64))) for b in base[:10]]
    for h in (0, 1, 2, 3):
        brute = {
            (i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
            if bin(hashes[i] ^ hashes[j]).count("1") <= h
        }  # fmt: skip
        assert near_pairs(hashes, h) == brute


def test_duplicates_across_pools_keep_the_test_copy() -> None:
    a, b, c = _img(1), _img(2), _img(3)
    a_near = np.clip(a.astype(int) + 2, 0, 255).astype(np.uint8)
    imgs = {
        "train/a": (a, "train"), "test/a": (a, "test"),  # exact, across pools
        "train/b1": (b, "train"), "train/b2": (b, "train"),  # exact, same pool
        "train/a-near": (a_near, "train"),  # near twin of the test image
        "train/c": (c, "train"), "ood/c-near": (np.clip(c.astype(int) + 2, 0, 255).astype(np.uint8), "ood"),
        "train/c-near": (np.clip(c.astype(int) + 1, 0, 255).astype(np.uint8), "train"),  # same pool: kept
    }  # fmt: skip
    ids = list(imgs)
    pools = [imgs[i][1] for i in ids]
    dropped = duplicates(ids, pools, [pixel_sha256(imgs[i][0]) for i in ids], [phash(imgs[i][0]) for i in ids], 2)
    named = {ids[i]: (f, ids[k]) for i, (f, k) in dropped.items()}
    assert named == {
        "train/a": ("exact_duplicate", "test/a"),
        "train/b2": ("exact_duplicate", "train/b1"),
        "train/a-near": ("near_duplicate", "test/a"),
        "ood/c-near": ("near_duplicate", "train/c"),
    }
    protected = frozenset({ids.index("train/a-near")})
    again = duplicates(
        ids, pools, [pixel_sha256(imgs[i][0]) for i in ids], [phash(imgs[i][0]) for i in ids], 2, protected
    )
    assert ids.index("train/a-near") not in again


# ------------------------------------------------------------------ overrides
def test_overrides_reader(tmp_path: Path) -> None:
    known = {"text": {"horse-00001", "dup"}, "audio": {"clip-1", "dup"}, "image": set()}
    f = tmp_path / "o.csv"
    f.write_text(
        "item_id,decision,annotator,note\nhorse-00001,reject,ana,off topic\n"
        "clip-1,Accept,bo,\nhorse-00001,accept,cy,ok\n"
    )
    d = read_overrides(f, known)
    assert d[("text", "horse-00001")].accept and d[("text", "horse-00001")].annotator == "cy"
    assert d[("audio", "clip-1")].accept and d[("audio", "clip-1")].note == ""
    for body, msg in [
        ("item_id,decision\nnope,reject\n", "unknown item_id"),
        ("item_id,decision\nhorse-00001,maybe\n", "not accept or reject"),
        ("item_id,decision\ndup,reject\n", "add a modality column"),
        ("item,decision\nx,reject\n", "'item_id' is missing"),
    ]:
        f.write_text(body)
        with pytest.raises(InputError, match=msg):
            read_overrides(f, known)
    f.write_text("item_id,decision,modality\ndup,reject,audio\n")
    assert list(read_overrides(f, known)) == [("audio", "dup")]
