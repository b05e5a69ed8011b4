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
from lumabench.variants.label_noise import assign_destinations, class_scores, switch_counts, switch_labels
from lumabench.variants.sampling import diverse_sample, mean_pairwise_distance
from synth_layouts import binomial_tolerance, hub_layout, pairs_layout


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


def test_switched_labels_are_the_nearest_class_with_room() -> None:
    f, y = _clusters(12, 15, 8, 0)
    sw = switch_labels(f, y, 0.3, 12, np.random.default_rng(1))
    new, mask = sw.labels, sw.switched
    sent = np.bincount(y[mask], minlength=12)
    assert (sent == round(0.3 * 15)).all()  # exactly round(p·n_c) per class
    assert (np.bincount(new, minlength=12) == 15).all()  # each class receives what it sent
    assert (new[~mask] == y[~mask]).all() and (new[mask] != y[mask]).all()
    received = np.bincount(new[mask], minlength=12)
    for i in np.nonzero(mask)[0]:
        first = _naive_nearest(f, y, int(i), 12, 5)
        assert sw.first_choice[i] == (new[i] == first)
        if new[i] != first:
            assert received[first] == sent[first]  # passed over only because its first choice was full
    assert sw.first_choice_share == pytest.approx(sw.first_choice[mask].mean())


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3])
def test_hub_class_keeps_its_own_items(rate: float) -> None:
    n_per, hub = 40, 34
    y = np.repeat(np.arange(42), n_per)
    f = hub_layout(y, hub, np.random.default_rng(7))
    scores = class_scores(f, y, 42, 5)
    scores[np.arange(len(y)), y] = np.inf
    assert (np.argmin(scores, axis=1)[y != hub] == hub).all()  # the layout really has a hub
    sw = switch_labels(f, y, rate, 42, np.random.default_rng(8))
    tol = binomial_tolerance(rate, n_per)
    for c in range(42):
        rows = sw.labels == c
        assert rows.sum() == n_per
        foreign = (y[rows] != c).mean()
        assert abs(foreign - rate) <= tol, (c, foreign)
        assert (y[rows] == c).sum() == n_per - round(rate * n_per)  # (1 − p) of its own items kept
    into_hub = sw.switched & (sw.labels == hub)
    assert sw.first_choice[into_hub].all() and not sw.first_choice[sw.switched & ~into_hub & (y != hub)].any()
    assert sw.first_choice_share < 0.1


def test_no_hub_means_every_item_gets_its_first_choice() -> None:
    y = np.repeat(np.arange(42), 30)
    f = pairs_layout(y, np.random.default_rng(9))
    sw = switch_labels(f, y, 0.3, 42, np.random.default_rng(10))
    assert sw.switched.sum() == 42 * 9
    assert sw.first_choice_share == 1.0
    partner = y[sw.switched] ^ 1  # classes 2j and 2j+1 are each other's nearest class
    assert (sw.labels[sw.switched] == partner).all()


def test_greedy_assignment_known_answer() -> None:
    inf = np.inf
    # hub class 0; items of classes 1, 2, 3 all prefer it; one item per class, capacity one each
    scores = np.array([
        [inf, 2.5, 3.5, 5.5],   # hub item
        [1.0, inf, 7.0, 8.0],
        [2.0, 5.0, inf, 4.0],
        [3.0, 4.5, 6.0, inf],
    ])  # fmt: skip
    dest = assign_destinations(scores, np.arange(4), np.ones(4, dtype=np.int64))
    assert dest.tolist() == [1, 0, 3, 2]


def test_greedy_never_strands_an_item() -> None:
    # 0 and 1 prefer each other; an unguarded greedy pairs them and leaves 2 with only its own class
    scores = np.array([[np.inf, 1.0, 2.0], [1.0, np.inf, 2.0], [1.5, 3.0, np.inf]])
    dest = assign_destinations(scores, np.arange(3), np.ones(3, dtype=np.int64))
    assert sorted(dest.tolist()) == [0, 1, 2] and (dest != np.arange(3)).all()
    r = np.random.default_rng(11)
    for _ in range(300):
        n_classes = int(r.integers(2, 7))
        counts = r.integers(0, 4, n_classes)
        while counts.sum() and 2 * counts.max() > counts.sum():
            counts[np.argmax(counts)] -= 1
        src = np.repeat(np.arange(n_classes), counts)
        dest = assign_destinations(r.random((len(src), n_classes)), src, counts)
        assert (dest != src).all()
        assert (np.bincount(dest, minlength=n_classes) == counts).all()


def test_switch_counts_stay_feasible() -> None:
    y = np.array([0] * 10 + [1] * 2)  # class 0 would send 3, class 1 only 1: 0 cannot send more than 1
    assert switch_counts(y, 0.3, 3).tolist() == [1, 1, 0]
    assert switch_counts(np.repeat(np.arange(4), 16), 0.3, 4).tolist() == [5, 5, 5, 5]


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
