"""Diversity (compactness) sampling of one class's items in one modality (LUMA-SPEC §3).

With class mean m and compactness c ≥ 0: d_i = ||f_i − m||^c, w_i = 1/(d_i + 1e-6) + 1,
p_i = w_i / Σw (d_i measured in units of the class's median distance, see below). Draw n
without replacement with probabilities p, `num_sampling` times, and keep the draw with the
largest mean pairwise Euclidean distance (Bezirganyan et al., "LUMA", SIGIR 2025). c = 0 gives
uniform weights; larger c concentrates the draw near the class mean.
"""

from __future__ import annotations

import numpy as np


def compactness_weights(features: np.ndarray, compactness: float) -> np.ndarray:
    """Sampling probabilities p_i of the formula above (float64, sums to 1)."""
    f = features.astype(np.float64)
    d = np.linalg.norm(f - f.mean(axis=0), axis=1)
    if compactness == 0:
        return np.full(len(f), 1.0 / len(f))
    # Distances are divided by the class's median distance to its mean before the power, so that
    # c has the same effect whatever the scale of the feature space (a raw d**20 is ~0 for
    # unit-norm sentence embeddings and astronomically large for standardised hand-crafted
    # features, which would make every c > 0 behave like c = 0 or like a hard argmin).
    med = np.median(d)
    dc = np.power(d / med if med > 0 else d, compactness)
    w = 1.0 / (dc + 1e-6) + 1.0
    w = np.where(np.isfinite(w), w, 1.0)
    return w / w.sum()


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows."""
    f = features.astype(np.float64)
    n = len(f)
    if n < 2:
        return 0.0
    sq = np.einsum("ij,ij->i", f, f)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0.0)
    iu = np.triu_indices(n, 1)
    return float(np.sqrt(d2[iu]).mean())


def diverse_sample(
    features: np.ndarray, n: int, compactness: float, num_sampling: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of n rows drawn by compactness sampling (all rows, shuffled, when n ≥ len)."""
    m = len(features)
    if n >= m:
        return rng.permutation(m)
    p = compactness_weights(features, compactness)
    best, best_score = None, -1.0
    for _ in range(num_sampling):
        idx = rng.choice(m, size=n, replace=False, p=p)
        score = mean_pairwise_distance(features[idx])
        if score > best_score:
            best, best_score = idx, score
    assert best is not None
    return best
