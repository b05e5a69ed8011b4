"""The variant operations on their own: label switching, compactness sampling, SNR mixing, text noise."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import soundfile as sf

from lumabench.audio.clips import wav_bytes
from lumabench.variants import text_noise as tn
from lumabench.variants.audio_noise import mix_at_snr, noise_segment, snr_db
from lumabench.variants.label_noise import class_scores, switch_labels
from lumabench.variants.sampling import diverse_sample, mean_pairwise_distance


def _clusters(n_classes: int, per: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    centres = r.normal(0, 3, (n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per)
    return centres[labels] + r.normal(0, 1, (len(labels), dim)), labels


def _naive_nearest(f: np.ndarray, y: np.ndarray, i: int, n_classes: int, k: int) -> int:
    best, best_c = np.inf, -1
    for c in range(n_classes):
        if c == y[i]:
            continue
        d = sorted(float(np.linalg.norm(f[i] - f[j])) for j in range(len(y)) if y[j] == c and j != i)
        s = float(np.mean(d[:k]))
        if s < best:
            best, best_c = s, c
    return best_c


def test_switched_labels_are_the_nearest_class() -> None:
    f, y = _clusters(12, 15, 8, 0)
    new, mask = switch_labels(f, y, 0.3, 12, np.random.default_rng(1))
    assert mask.sum() == round(0.3 * len(y))
    assert (new[~mask] == y[~mask]).all() and (new[mask] != y[mask]).all()
    for i in np.nonzero(mask)[0]:
        assert new[i] == _naive_nearest(f, y, int(i), 12, 5)


def test_switch_rate_within_two_points_and_capacity() -> None:
    f, y = _clusters(42, 20, 16, 2)
    for rate in (0.1, 0.2, 0.3):
        new, mask = switch_labels(f, y, rate, 42, np.random.default_rng(3), capacity=20)
        assert abs(mask.mean() - rate) <= 0.02
        assert np.bincount(new[mask], minlength=42).max() <= 20
    scores = class_scores(f, y, 42, 5)
    assert np.isfinite(scores).all() and scores.shape == (len(y), 42)


def test_compactness_reduces_spread_monotonically() -> None:
    r = np.random.default_rng(4)
    f = r.normal(0, 1, (300, 16)) * np.linspace(0.5, 2, 16)
    spreads = []
    for c in (0, 2, 5, 10, 20):
        vals = [mean_pairwise_distance(f[diverse_sample(f, 40, c, 10, np.random.default_rng(s))]) for s in range(5)]
        spreads.append(float(np.mean(vals)))
    assert all(a > b for a, b in itertools.pairwise(spreads)), spreads


def test_mixing_hits_the_drawn_snr() -> None:
    r = np.random.default_rng(5)
    t = np.arange(8000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 220 * t) * np.hanning(len(t))).astype(np.float32)
    noise = r.normal(0, 0.2, 30000).astype(np.float32)
    for snr in r.uniform(-5, 20, 20):
        seg = noise_segment(noise, len(clean), r)
        mix, scaled, gain = mix_at_snr(clean, seg, float(snr))
        assert abs(snr_db(clean * gain, scaled) - snr) < 1e-3
        data, sr = sf.read(io.BytesIO(wav_bytes(mix)), dtype="float64")
        assert sr == 16000
        measured = 10 * np.log10(np.mean((clean * gain) ** 2) / np.mean((data - clean * gain) ** 2))
        assert abs(measured - snr) < 0.1
    loud, _, g = mix_at_snr(np.ones(100, np.float32) * 0.9, np.ones(100, np.float32) * 0.5, 0.0)
    assert g < 1 and np.abs(loud).max() <= 0.99 + 1e-6


TEXT = "The old horse walked slowly across the green field while the happy children laughed at the big brown dog."


@pytest.mark.parametrize("kind", sorted(tn.PERTURBATIONS))
def test_text_perturbations_change_the_text(kind: str) -> None:
    outs = [tn.PERTURBATIONS[kind](TEXT, np.random.default_rng(s), False) for s in range(5)]
    assert all(isinstance(o, str) and o != TEXT for o in outs), outs
    again = tn.PERTURBATIONS[kind](TEXT, np.random.default_rng(0), False)
    assert again == outs[0]
    if kind in {"synonym", "antonym", "word_delete"}:
        assert all("horse" in o.lower() and "dog" in o.lower() for o in outs)


def test_keyboard_heavy_touches_more_words() -> None:
    words = TEXT.split()
    light = [
        sum(a != b for a, b in zip(words, tn.keyboard(TEXT, np.random.default_rng(s)).split(), strict=True))
        for s in range(10)
    ]
    heavy = [
        sum(a != b for a, b in zip(words, tn.keyboard(TEXT, np.random.default_rng(s), True).split(), strict=True))
        for s in range(10)
    ]
    assert max(light) <= 3 and min(heavy) >= 3


def test_wordnet_synonyms_and_antonyms() -> None:
    assert "large" in tn._synonyms("big")
    assert "sad" in tn._antonyms("happy") or "unhappy" in tn._antonyms("happy")
    assert tn.antonym("Xyz qwv.", np.random.default_rng(0)).startswith("Not ")


def test_noise_segments_skip_silent_stretches() -> None:
    from lumabench.variants.audio_noise import MIN_SEGMENT_POWER, noise_segment, power

    tone = np.sin(np.arange(4000) / 5.0).astype(np.float32)
    recording = np.concatenate([tone, np.zeros(40000, np.float32), tone])  # a sound with a long pause
    for seed in range(50):
        seg = noise_segment(recording, 3000, np.random.default_rng(seed))
        assert len(seg) == 3000 and power(seg) >= MIN_SEGMENT_POWER * power(recording)
