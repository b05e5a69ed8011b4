"""The stage's models, built and trained with the train stage's code (`lumabench.train`, `Method.fit`).

A model trained on modality set A is the method's own entry with `modalities` = A (in the entry's
order): the same class, settings, initialisation seed and data order as the ordinary model, only
the encoders of A. It never holds an encoder it was not trained with, so at deployment it uses the
modalities of A ∩ B and nothing else. The ordinary model (A = all three) is the train stage's
checkpoint when one of the same entry, training seed and data is on disk.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lumabench.data import Normaliser, SplitTensors
from lumabench.errors import InputError
from lumabench.methods.base import FitReport, Method
from lumabench.params import Distill, Params
from lumabench.paths import Paths
from lumabench.train import build_method, reuse, validation_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRows:
    """The train stage's training and validation rows of a variant for one method, on the device."""

    train: SplitTensors
    val: SplitTensors
    normaliser: Normaliser
    text_dim: int


def training_rows(
    params: Params,
    paths: Paths,
    variant: str,
    data: dict[str, SplitTensors],
    modalities: list[str],
    device: torch.device,
) -> TrainingRows:
    """Rows with any of `modalities`, split and scaled exactly as `lumabench train` does
    (`train.validation_split`, `Normaliser.fit` on the training rows): every model of the stage,
    whatever its set A, sees the same rows and the same input scaling as the ordinary model."""
    usable = data["train"].present_any(modalities)
    if usable.sum() < 2:
        raise InputError(
            f"fewer than two train rows have any of {modalities}", paths.variant(variant) / "train.parquet"
        )
    rows = data["train"].subset(np.flatnonzero(usable))
    tr_idx, va_idx = validation_split(rows, params.train.val_fraction, params.seed)
    tr, va = rows.subset(tr_idx), rows.subset(va_idx)
    return TrainingRows(tr.to(device), va.to(device), Normaliser.fit(tr, params.train), int(tr.text.shape[1]))


def restricted(
    params: Params,
    method: str,
    modalities: list[str] | tuple[str, ...],
    distill: Distill | None = None,
    train: dict[str, Any] | None = None,
) -> Params:
    """`params` whose entry `method` trains on `modalities` only (kept in the entry's own order, so the
    full set gives the entry unchanged), with `distill` when given and `train` settings overridden."""
    spec = params.methods[method]
    update: dict[str, Any] = {"modalities": [m for m in spec.modalities if m in modalities]}
    if distill is not None:
        update["distill"] = distill
    changed: dict[str, Any] = {"methods": {**params.methods, method: spec.model_copy(update=update)}}
    if train:
        changed["train"] = params.train.model_copy(update=train)
    return params.model_copy(update=changed)


def build(params: Params, method: str, rows: TrainingRows, device: torch.device, seed: int) -> Method:
    """`train.build_method` under training seed `seed`, with the variant's input scaling."""
    model = build_method(params, method, rows.text_dim, device, seed)
    model.normaliser = rows.normaliser
    return model


def fit(model: Method, rows: TrainingRows) -> FitReport:
    """`Method.fit` on the train stage's rows (the one training loop)."""
    return model.fit(rows.train, rows.val, rows.normaliser)


#: `train` settings that do not change the model a checkpoint holds
NOT_TRAINING = ("device", "record_seconds")


def training_settings(params: Params) -> dict[str, Any]:
    """The `train` section as a checkpoint records it, less what does not change the model."""
    return {k: v for k, v in params.train.model_dump(mode="json").items() if k not in NOT_TRAINING}


def _matching_checkpoint(path: Path, params: Params, method: str, seed: int) -> bool:
    """Whether `path` is the train stage's model of this entry, training seed, data seed and `train`
    settings (a checkpoint that does not record them is not reused: it may be from other settings)."""
    if not path.is_file():
        return False
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # unreadable: train here instead (the train stage rewrites its own file)
        log.info("%s is unreadable; training the same model here", path)
        return False
    same = (
        ckpt.get("method") == method
        and ckpt.get("seed") == seed
        and ckpt.get("data_seed") == params.seed
        and ckpt.get("spec") == params.methods[method].model_dump(mode="json")
        and {k: v for k, v in (ckpt.get("train") or {}).items() if k not in NOT_TRAINING} == training_settings(params)
    )
    if not same:
        log.info("%s was trained with other settings; training the model here", path)
    return same


def ordinary(
    params: Params, paths: Paths, variant: str, method: str, rows: TrainingRows, device: torch.device, seed: int
) -> tuple[Method, FitReport, bool]:
    """The model trained on every modality (A = the entry's own set): the train stage's checkpoint of
    `variant` when it holds this entry, training seed and data (`train.reuse` checks its input
    scaling), else trained here with the same result. Returns (model, fit report, reused)."""
    model = build(params, method, rows, device, seed)
    ckpt = paths.model(variant, method, seed)
    if _matching_checkpoint(ckpt, params, method, seed):
        return model, reuse(model, (variant, ckpt), rows.normaliser), True
    return model, fit(model, rows), False


def fit_record(report: FitReport, reused: bool, record_seconds: bool) -> dict[str, Any]:
    """How a model of the stage was obtained (epochs, best epoch, seconds when recorded)."""
    best = report.best_val_loss
    return {
        "reused": reused,
        "epochs": report.epochs,
        "best_epoch": report.best_epoch,
        "best_val_loss": None if not math.isfinite(best) else round(best, 6),
        "seconds": round(report.seconds, 2) if record_seconds else None,
    }
