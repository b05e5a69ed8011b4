"""Intervention 2, WiSE-FT (Wortsman et al., CVPR 2022): weight-space ensembling of a model before and
after fine-tuning on a new modality set, as McKinzie et al. (ICML 2023) apply it.

θ₀ is the model trained on the old set (its encoders only). Fine-tuning adds the new modalities'
encoders at their initialisation (the entry's own, under the same seed) and trains everything on
the new set from there: that starting point, θ₀ with the new encoders as initialised, is θ₀ in the
new model's weight space. θ_α = (1 − α)·θ₀ + α·θ₁ (`torch.lerp`: exact at α = 0 and 1). A new
encoder carries trained weight only when α > 0, so θ_α uses the new modalities for α > 0 and at
α = 0 is θ₀ itself: the old model, predicting exactly as it does in the A→B matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lumabench.methods.base import FitReport, Method
from lumabench.params import Params, canonical_set
from lumabench.robustness.training import TrainingRows, build, fit, restricted

State = dict[str, torch.Tensor]


def embed(theta0: State, start: State) -> State:
    """θ₀ in a larger model's weight space: θ₀'s tensors where it has them, `start`'s (the larger
    model's initialisation) elsewhere. Every tensor of θ₀ must exist there with the same shape."""
    out = {k: v.detach().clone() for k, v in start.items()}
    for k, v in theta0.items():
        if k not in out or out[k].shape != v.shape:
            raise ValueError(f"WiSE-FT: weight {k} of the old model has no counterpart in the new one")
        out[k] = v.detach().clone()
    return out


def interpolate(theta0: State, theta1: State, alpha: float, keys: list[str] | None = None) -> State:
    """θ_α = (1 − α)·θ₀ + α·θ₁ per tensor (of `keys`, default all); non-float tensors must agree."""
    out: State = {}
    for k in keys if keys is not None else list(theta1):
        a, b = theta0[k], theta1[k]
        if a.is_floating_point():
            out[k] = torch.lerp(a, b, float(alpha))
        elif torch.equal(a, b):
            out[k] = a.clone()
        else:
            raise ValueError(f"WiSE-FT: non-float weight {k} differs between the two models")
    return out


def state(model: Method) -> State:
    """A detached CPU copy of the model's weights."""
    return {k: v.detach().cpu().clone() for k, v in model.module.state_dict().items()}


def load(model: Method, weights: State) -> Method:
    """`model` holding `weights` (on its device)."""
    model.module.load_state_dict(weights)
    model.module.to(model.device)
    return model


def curve_point(alpha: float, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """One α of the curve: the cells (acc, NLL, ECE, Brier, n) on the old and the new deployment set."""
    return {"alpha": alpha, "old": old, "new": new}


@dataclass(frozen=True)
class FineTuning:
    """θ₀ in the new model's weight space (`start`), θ₁ and what is needed to rebuild θ_α."""

    old: tuple[str, ...]
    new: tuple[str, ...]
    start: State
    theta1: State
    old_keys: list[str]  # θ₀'s own tensors (the old model's weights)
    report: FitReport


def fine_tune(params: Params, method: str, seed: int, rows: TrainingRows, theta0: Method) -> tuple[Method, FineTuning]:
    """θ₁: the entry built on `wise_ft.new` (same seed), θ₀'s weights copied in, trained on `new` by
    `Method.fit` (`wise_ft.max_epochs` / `lr` when set). Returns the fine-tuned model and its record."""
    cfg = params.robustness.wise_ft
    assert cfg is not None
    overrides = {k: v for k, v in (("max_epochs", cfg.max_epochs), ("lr", cfg.lr)) if v is not None}
    new = canonical_set(tuple(cfg.new))
    tuned = build(restricted(params, method, new, train=overrides), method, rows, theta0.device, seed)
    theta0_weights = state(theta0)
    start = embed(theta0_weights, state(tuned))
    load(tuned, start)
    report = fit(tuned, rows)
    old = canonical_set(tuple(cfg.old))
    return tuned, FineTuning(old, new, start, state(tuned), list(theta0_weights), report)


def at_alpha(params: Params, method: str, seed: int, rows: TrainingRows, ft: FineTuning, alpha: float) -> Method:
    """θ_α as a model: the old model at α = 0 (the new encoders carry no trained weight), else the new one."""
    device = rows.train.class_id.device
    if alpha == 0.0:
        model = build(restricted(params, method, ft.old), method, rows, device, seed)
        return load(model, interpolate(ft.start, ft.theta1, 0.0, ft.old_keys))
    model = build(restricted(params, method, ft.new), method, rows, device, seed)
    return load(model, interpolate(ft.start, ft.theta1, alpha))
