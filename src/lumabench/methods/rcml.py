"""RCML: Reliable Conflictive Multi-View Learning (Xu, Zhang, Wang, Gao, Liu; AAAI 2024).

Each view v gives evidence e_v = softplus(logits_v) and a Dirichlet α_v = e_v + 1; the fused view
has the mean evidence of the present views (average aggregation). The loss is the mean over the
views and the fused view of the evidential digamma loss with its KL term weighted
min(1, epoch / kl_anneal_epochs), plus γ (conflict_weight) times the mean conflictive degree
between views. Uncertainty: epistemic = vacuity K/S, aleatoric = expected entropy under Dir(α),
total = entropy of α/S (`evaluate.uncertainty.dirichlet_decomposition`).

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
from lumabench.models.encoders import MultiModalNet
from lumabench.models.fusion import average_evidence, conflictive_degree


@register("rcml")
class RCML(Method):
    """Evidential multi-view network with average evidence fusion and the conflictive-degree loss."""

    def build(self) -> nn.Module:
        return MultiModalNet(self.modalities, self.n_classes, self.spec.dropout, self.text_dim, False, self.audio_shape)

    def _evidence(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self.module(batch.inputs)
        evidence = F.softplus(logits.float())  # [V, B, C]
        return evidence, average_evidence(evidence, batch.mask)

    def _loss_rows(self, batch: Batch, kl_weight: float) -> torch.Tensor:
        evidence, fused = self._evidence(batch)
        mask = batch.mask.t().float()  # [V, B]
        per_view = torch.stack([edl_digamma_loss(e + 1.0, batch.labels, kl_weight) for e in evidence])
        fused_loss = edl_digamma_loss(fused + 1.0, batch.labels, kl_weight)
        evidential = (fused_loss + (per_view * mask).sum(0)) / (1.0 + mask.sum(0))
        return evidential + self.spec.conflict_weight * conflictive_degree(evidence + 1.0, batch.mask)

    def step_key(self, epoch: int) -> float:
        return min(1.0, epoch / self.spec.kl_anneal_epochs)

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._loss_rows(batch, self.step_key(epoch)).mean().unsqueeze(0)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._loss_rows(batch, 1.0).sum().unsqueeze(0)

    def predict(self, batch: Batch) -> Prediction:
        evidence, fused = self._evidence(batch)
        d = dirichlet_decomposition(fused + 1.0)
        per: dict[str, Prediction] = {}
        if len(self.modalities) > 1:
            for i, m in enumerate(self.modalities):
                dv = dirichlet_decomposition(evidence[i] + 1.0)
                per[m] = Prediction(dv["probs"], dv["aleatoric"], dv["epistemic"], dv["total"])
        return Prediction(d["probs"], d["aleatoric"], d["epistemic"], d["total"], per)
