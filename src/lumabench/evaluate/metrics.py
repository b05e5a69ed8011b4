"""Classification, calibration and OOD-detection metrics, in plain numpy.

Every function takes arrays only (probabilities, labels, scores), never a method, so any method
that produces a `Prediction` is scored the same way.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose arg-max class is the label."""
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the label, -log p_y (probabilities floored at 1e-12)."""
    if len(labels) == 0:
        return float("nan")
    p = probs[np.arange(len(labels)), labels]
    return float(np.mean(-np.log(np.clip(p, EPS, 1.0))))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over samples of sum_k (p_k - 1[k = y])^2 (Brier 1950)."""
    if len(labels) == 0:
        return float("nan")
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(labels)), labels] = 1.0
    return float(np.mean(np.sum((probs.astype(np.float64) - onehot) ** 2, axis=1)))


def calibration_bins(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width confidence bins (0, 1/bins], ..., ((bins-1)/bins, 1]: count, accuracy, mean confidence.

    The one binning of the project: `ece` and the report's reliability diagrams both use it, so the
    diagram and the number printed beside it can never disagree. A confidence of exactly 0 falls
    into the first bin; empty bins have NaN accuracy and confidence (and weigh nothing in the ECE).
    """
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    hit = np.asarray(correct, dtype=np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=hit, minlength=bins) / count
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
    return count, acc, mean_conf


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins (Guo et al., ICML 2017).

    ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)| over the bins of `calibration_bins`.
    """
    n = len(labels)
    if n == 0:
        return float("nan")
    conf = np.max(probs, axis=1)
    correct = np.argmax(probs, axis=1) == labels
    count, acc, mean_conf = calibration_bins(conf, correct, bins)
    filled = count > 0
    return float(np.sum(count[filled] / n * np.abs(acc[filled] - mean_conf[filled])))


def accuracy_any_truth(probs: np.ndarray, truths: np.ndarray) -> float:
    """Accuracy when a row has several true classes, one per item it holds (-1 = no item).

    Per row, the fraction of its items whose true class is the arg-max; the mean over rows. A row
    whose items all share one class scores like `accuracy`; after label switching, where a row's
    items may come from different classes, this is the expected accuracy against the class of an
    item drawn uniformly from the row (docs/uncertainty.md, "Accuracy against original labels").
    """
    truths = np.asarray(truths, dtype=np.int64)
    if truths.ndim == 1:
        truths = truths[:, None]
    valid = truths >= 0
    n_valid = valid.sum(1)
    if len(truths) == 0 or (n_valid == 0).any():
        return float("nan")
    hit = (np.argmax(probs, axis=1)[:, None] == truths) & valid
    return float(np.mean(hit.sum(1) / n_valid))


def _rank_average(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def auroc(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half)."""
    pos = is_positive.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _rank_average(np.asarray(scores, dtype=np.float64))
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _thresholds(scores: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives when thresholding at each distinct score, high to low."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], pos[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[distinct].astype(np.float64)
    fp = np.cumsum(~y)[distinct].astype(np.float64)
    return tp, fp


def aupr(scores: np.ndarray, is_positive: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: sum_k (R_k - R_{k-1}) P_k."""
    pos = is_positive.astype(bool)
    if pos.sum() == 0 or (~pos).sum() == 0:
        return float("nan")
    tp, fp = _thresholds(np.asarray(scores, dtype=np.float64), pos)
    precision = tp / (tp + fp)
    recall = tp / pos.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fpr_at_tpr(scores: np.ndarray, is_positive: np.ndarray, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold whose true-positive rate reaches `tpr` (FPR95)."""
    pos = is_positive.astype(bool)
    if pos.sum() == 0 or (~pos).sum() == 0:
        return float("nan")
    tp, fp = _thresholds(np.asarray(scores, dtype=np.float64), pos)
    k = int(np.searchsorted(tp / pos.sum(), tpr - 1e-12, side="left"))
    return float(fp[min(k, len(fp) - 1)] / (~pos).sum())


def classification(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, float]:
    """Accuracy, NLL, Brier and ECE of one set of predictions."""
    return {
        "acc": accuracy(probs, labels),
        "nll": nll(probs, labels),
        "brier": brier(probs, labels),
        "ece": ece(probs, labels, bins),
    }


def ood_detection(score_id: np.ndarray, score_ood: np.ndarray) -> dict[str, float]:
    """AUROC, AUPR and FPR95 of an uncertainty score separating test (0) from OOD (1) samples."""
    scores = np.r_[np.asarray(score_id, dtype=np.float64), np.asarray(score_ood, dtype=np.float64)]
    is_ood = np.r_[np.zeros(len(score_id), bool), np.ones(len(score_ood), bool)]
    return {"auroc": auroc(scores, is_ood), "aupr": aupr(scores, is_ood), "fpr95": fpr_at_tpr(scores, is_ood)}
