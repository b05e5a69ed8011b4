"""Curves the figures draw from predictions: ROC for OOD detection and reliability bins.

Curves only: every number printed beside them (AUROC, ECE) is read from the metrics JSON the train
stage wrote, so the report and the metrics files can never disagree. The reliability bins are the
ones `evaluate.metrics.calibration_bins` gives, i.e. exactly the bins its ECE sums over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lumabench.evaluate.metrics import calibration_bins

RELIABILITY_BINS = 15  # the metrics' ECE bins (Guo et al., ICML 2017)
ROC_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class Roc:
    fpr: np.ndarray
    tpr: np.ndarray


def roc(scores: np.ndarray, positive: np.ndarray) -> Roc | None:
    """ROC of `scores` for detecting `positive` rows (Fawcett 2006, "An introduction to ROC analysis").

    One point per distinct score (ties move both rates at once), starting at (0, 0). None when a
    class is absent.
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
    return Roc(fpr=np.r_[0.0, fps / n_neg], tpr=np.r_[0.0, tps / n_pos])


def roc_on_grid(curve: Roc, grid: np.ndarray = ROC_GRID) -> np.ndarray:
    """TPR at fixed FPR values (the best TPR reachable without exceeding each FPR), for plot files."""
    idx = np.searchsorted(curve.fpr, grid, side="right") - 1
    return curve.tpr[np.clip(idx, 0, curve.tpr.size - 1)]


def averaged_roc(curves: Sequence[Roc], grid: np.ndarray = ROC_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Vertical averaging over seeds (Fawcett 2006, sec. 8): mean and sd (ddof = 1) of TPR per grid FPR.

    The sd is NaN for a single curve.
    """
    tprs = np.stack([roc_on_grid(c, grid) for c in curves])
    sd = tprs.std(axis=0, ddof=1) if len(curves) > 1 else np.full(grid.size, np.nan)
    return tprs.mean(axis=0), sd


def ood_roc(pred: pd.DataFrame, score: str = "epistemic") -> Roc | None:
    """ROC of an uncertainty score for telling OOD rows (positive) from test rows (LUMA §7 protocol)."""
    return roc(pred[score].to_numpy(), (pred["split"] == "ood").to_numpy())


@dataclass(frozen=True)
class Reliability:
    """Per-bin counts, accuracy (NaN when empty) and mean confidence on the metrics' bins."""

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> Reliability:
    """Reliability-diagram data (DeGroot & Fienberg 1983; Guo et al., ICML 2017, sec. 2).

    Right-closed equal-width bins (0, 1/B], ..., ((B-1)/B, 1] from `evaluate.metrics.calibration_bins`;
    callers pass every seed's test predictions at once to pool them.
    """
    count, acc, conf = calibration_bins(np.asarray(confidence), np.asarray(correct), bins=bins)
    return Reliability(edges=np.linspace(0.0, 1.0, bins + 1), count=count, accuracy=acc, confidence=conf)
