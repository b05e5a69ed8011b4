"""RCML: Reliable Conflictive Multi-View Learning (Xu, Si, Guan, Zhao, Wu, Gao; AAAI 2024).

Each view v gives evidence e_v = softplus(logits_v) and a Dirichlet α_v = e_v + 1. The fused
evidence follows `spec.fusion`: "sequential" (the paper's rule and its code: present views added one
at a time, e = (e + e_v)/2) or "mean" (ours: equal weights, order-free); `models.fusion`. The loss is
the mean over the views and the fused view of the evidential digamma loss with its KL term weighted
min(1, epoch / A), A = max(1, round(kl_anneal_fraction × train.max_epochs)) (the paper: 50 of 300
epochs), plus γ (conflict_weight) times the mean conflictive degree between views.

Uncertainty (`evaluate.uncertainty.dirichlet_decomposition`, Malinin & Gales, NeurIPS 2018): total =
H(α/S), aleatoric = expected entropy under Dir(α), epistemic = total − aleatoric (mutual information);
the vacuity K/S is reported in `Prediction.extras["vacuity"]`, for the fused and every view.

Validation uses the full KL weight (1), so the early-stopping criterion does not drift with the
annealing schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumabench.data import Batch
from lumabench.evaluate.uncertainty import dirichlet_decomposition
from lumabench.methods.base import Method, Prediction
from lumabench.methods.losses import edl_digamma_loss
from lumabench.methods.registry import register
from lumabench.models.fusion import conflictive_degree, fuse_evidence


def dirichlet_prediction(alpha: torch.Tensor) -> Prediction:
    """A `Prediction` of Dir(α) [B, K]: the Dirichlet decomposition, vacuity K/S as an extra."""
    d = dirichlet_decomposition(alpha)
    return Prediction(d["probs"], d["aleatoric"], d["epistemic"], d["total"], extras={"vacuity": d["vacuity"]})


@register("rcml")
class RCML(Method):
    """Evidential multi-view network with sequential (or mean) evidence fusion and the conflictive-degree loss."""

    def build(self) -> nn.Module:
        return self.encoder_net(sigma=False)

    def _evidence(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self.module(batch.inputs)
        evidence = F.softplus(logits.float())  # [V, B, C]
        return evidence, fuse_evidence(evidence, batch.mask, self.spec.fusion)

    def _loss_rows(self, batch: Batch, kl_weight: float) -> torch.Tensor:
        evidence, fused = self._evidence(batch)
        mask = batch.mask.t().float()  # [V, B]
        per_view = torch.stack([edl_digamma_loss(e + 1.0, batch.labels, kl_weight) for e in evidence])
        fused_loss = edl_digamma_loss(fused + 1.0, batch.labels, kl_weight)
        evidential = (fused_loss + (per_view * mask).sum(0)) / (1.0 + mask.sum(0))
        return evidential + self.spec.conflict_weight * conflictive_degree(evidence + 1.0, batch.mask)

    def kl_weight(self, epoch: int) -> float:
        """min(1, epoch / A), A = max(1, round(kl_anneal_fraction × max_epochs)): 1 from epoch A on."""
        return min(1.0, epoch / self.spec.kl_anneal_epochs(self.cfg.max_epochs))

    def step_key(self, epoch: int) -> float:
        return self.kl_weight(epoch)

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._loss_rows(batch, self.kl_weight(epoch)).mean().unsqueeze(0)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._loss_rows(batch, 1.0).sum().unsqueeze(0)

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """log α of the fused Dirichlet, [1, B, C]: its softmax is the expected probability α / S."""
        _, fused = self._evidence(batch)
        return torch.log(fused + 1.0).unsqueeze(0)

    def predict(self, batch: Batch) -> Prediction:
        evidence, fused = self._evidence(batch)
        out = dirichlet_prediction(fused + 1.0)
        if len(self.modalities) > 1:
            out.per_modality = {m: dirichlet_prediction(evidence[i] + 1.0) for i, m in enumerate(self.modalities)}
        return out
