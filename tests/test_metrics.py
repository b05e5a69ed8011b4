"""Metrics and uncertainty decompositions against hand-computed values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lumabench.evaluate import metrics as M
from lumabench.evaluate.uncertainty import (
    dirichlet_decomposition,
    entropy,
    heteroscedastic_probs,
    sampling_decomposition,
)

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.4, 0.35, 0.25], [0.2, 0.2, 0.6]])
Y = np.array([0, 2, 1, 2])


def test_accuracy_nll_brier_by_hand() -> None:
    assert M.accuracy(P, Y) == 0.5
    assert M.nll(P, Y) == pytest.approx(-(math.log(0.7) + math.log(0.3) + math.log(0.35) + math.log(0.6)) / 4)
    b = [
        (0.3**2 + 0.2**2 + 0.1**2),
        (0.1**2 + 0.6**2 + 0.7**2),
        (0.4**2 + 0.65**2 + 0.25**2),
        (0.2**2 + 0.2**2 + 0.4**2),
    ]
    assert M.brier(P, Y) == pytest.approx(sum(b) / 4)


def test_ece_by_hand() -> None:
    # confidences 0.7 (bin 11, right), 0.6 (bin 9, wrong), 0.4 (bin 6, wrong), 0.6 (bin 9, right)
    expected = (1 / 4) * abs(1 - 0.7) + (2 / 4) * abs(0.5 - 0.6) + (1 / 4) * abs(0 - 0.4)
    assert M.ece(P, Y, bins=15) == pytest.approx(expected)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert M.ece(perfect, np.array([0, 1])) == 0.0


def test_auroc_matches_pair_counting_with_ties() -> None:
    g = np.random.default_rng(0)
    scores = g.integers(0, 5, 40).astype(float)
    pos = g.random(40) < 0.4
    pairs = [(a, b) for a, b in itertools.product(scores[pos], scores[~pos])]
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert M.auroc(scores, pos) == pytest.approx(brute)
    assert M.auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert M.auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0


def test_aupr_and_fpr95_by_hand() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    pos = np.array([1, 0, 1, 0, 0], bool)
    # ranked: P N P N N -> AP = 1/2 * (1/1) + 1/2 * (2/3)
    assert M.aupr(scores, pos) == pytest.approx(0.5 + 1 / 3)
    # 95% TPR needs both positives: threshold 0.7 flags one of three negatives
    assert M.fpr_at_tpr(scores, pos) == pytest.approx(1 / 3)
    det = M.ood_detection(np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5]))
    assert det == {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0}


def test_empty_sets_are_nan() -> None:
    assert math.isnan(M.auroc(np.array([0.1, 0.2]), np.array([0, 0])))
    assert math.isnan(M.accuracy(np.zeros((0, 3)), np.zeros(0, int)))


def test_sampling_decomposition_identities() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(7, 5, 4, generator=g) * 2, -1)
    d = sampling_decomposition(probs)
    assert torch.all(d["epistemic"] >= 0)
    assert torch.allclose(d["total"], d["aleatoric"] + d["epistemic"], atol=1e-6)
    assert torch.allclose(d["total"], entropy(probs.mean(0)))
    # identical samples: no epistemic uncertainty
    same = probs[:1].expand(7, 5, 4)
    assert torch.allclose(sampling_decomposition(same)["epistemic"], torch.zeros(5), atol=1e-6)
    # two confident samples that disagree: epistemic = log 2, aleatoric = 0
    two = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    d2 = sampling_decomposition(two)
    assert d2["epistemic"].item() == pytest.approx(math.log(2), abs=1e-6)
    assert d2["aleatoric"].item() == pytest.approx(0.0, abs=1e-6)


def test_heteroscedastic_probs_zero_sigma_is_softmax() -> None:
    z = torch.randn(3, 2, 6)
    out = heteroscedastic_probs(z, torch.zeros_like(z), samples=5)
    assert torch.allclose(out, torch.softmax(z, -1), atol=1e-6)
    # large σ pushes the predictive towards uniform: more entropy
    wide = heteroscedastic_probs(z, torch.full_like(z, 5.0), samples=400)
    assert torch.all(entropy(wide) > entropy(torch.softmax(z, -1)))


def test_dirichlet_expected_entropy_matches_monte_carlo() -> None:
    alpha = torch.tensor([[2.0, 3.0, 5.0], [1.0, 1.0, 1.0]])
    d = dirichlet_decomposition(alpha)
    draws = torch.distributions.Dirichlet(alpha).sample((200_000,))
    mc = entropy(draws).mean(0)
    assert torch.allclose(d["aleatoric"], mc, atol=5e-3)
    assert torch.allclose(d["vacuity"], torch.tensor([3 / 10, 1.0]))
    assert torch.allclose(d["probs"][0], torch.tensor([0.2, 0.3, 0.5]))
    assert d["total"][1].item() == pytest.approx(math.log(3), abs=1e-6)
