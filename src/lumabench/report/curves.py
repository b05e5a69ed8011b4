"""Curves the figures draw from predictions: ROC for OOD detection and reliability bins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RELIABILITY_BINS = 10
ROC_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class Roc:
    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float


def roc(scores: np.ndarray, positive: np.ndarray) -> Roc | None:
    """ROC of `scores` for detecting `positive` rows (Fawcett 2006, "An introduction to ROC analysis").

    One point per distinct score (ties move both rates at once), starting at (0, 0); the AUROC is
    the trapezoidal area, which counts a tie as half a correct ranking. None when a class is absent.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tps = np.cumsum(y)[last_of_value]
    fps = np.cumsum(~y)[last_of_value]
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return Roc(fpr=fpr, tpr=tpr, auroc=float(np.trapezoid(tpr, fpr)))


def roc_on_grid(curve: Roc, grid: np.ndarray = ROC_GRID) -> np.ndarray:
    """TPR at fixed FPR values (the best TPR reachable without exceeding each FPR), for plot files."""
    idx = np.searchsorted(curve.fpr, grid, side="right") - 1
    return curve.tpr[np.clip(idx, 0, curve.tpr.size - 1)]


def ood_roc(pred: pd.DataFrame, score: str = "epistemic") -> Roc | None:
    """ROC of an uncertainty score for telling OOD rows (positive) from test rows (LUMA §7 protocol)."""
    return roc(pred[score].to_numpy(), (pred["split"] == "ood").to_numpy())


@dataclass(frozen=True)
class Reliability:
    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    ece: float


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> Reliability:
    """Equal-width confidence bins and the expected calibration error.

    ECE = sum_b (n_b / N) |acc_b - conf_b| (Naeini et al. 2015; Guo et al. 2017, "On calibration
    of modern neural networks"). Empty bins have NaN accuracy and confidence and weigh nothing.
    """
    confidence = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=bins) / count
        conf = np.bincount(idx, weights=confidence, minlength=bins) / count
    total = max(int(count.sum()), 1)
    filled = count > 0
    ece = float(np.sum(count[filled] / total * np.abs(acc[filled] - conf[filled])))
    return Reliability(edges=edges, count=count, accuracy=acc, confidence=conf, ece=ece)
