"""Deep Ensemble (Lakshminarayanan et al., NeurIPS 2017) with heteroscedastic σ heads.

The M members are M independently initialised copies of the same network, run as ONE network
(`models.ensemble.EnsembleNet`: grouped convolutions and batched matmuls over a member axis). In
training every member sees its own permutation of the data, draws its own dropout masks and noise
and minimises its own loss (the summed loss has block-diagonal gradients, and Adam is element-wise,
so members stay independent); each keeps its own best-validation checkpoint. The loss of a member is
that of MC Dropout: the fused heteroscedastic NLL plus `head_loss_weight` times the mean of the
present heads' own. At test time dropout is off and the members' predictive distributions are
decomposed like MC samples.
"""

from __future__ import annotations

import torch
from torch import nn

from lumabench.data import Batch
from lumabench.methods.base import Method, Prediction
from lumabench.methods.losses import fused_heteroscedastic_nll
from lumabench.methods.mc_dropout import sampled_prediction
from lumabench.methods.registry import register
from lumabench.models.ensemble import EnsembleNet
from lumabench.models.fusion import masked_mean
from lumabench.seeding import int_seed


@register("deep_ensemble")
class DeepEnsemble(Method):
    """M members, each its own init, data order, loss and checkpoint; one batched forward."""

    @property
    def streams(self) -> int:  # type: ignore[override]
        return self.spec.members

    def build(self) -> nn.Module:
        members = []
        for i in range(self.spec.members):
            torch.manual_seed(int_seed(self.seed, "train", *self.key, "member", i))
            net = self.encoder_net(sigma=True)
            members.append(net)
        return EnsembleNet(members, self.cfg.ensemble_conv)

    def _member_losses(self, batch: Batch, per_member: bool) -> torch.Tensor:
        """Per-row loss [M, B] of each member (`losses.fused_heteroscedastic_nll`)."""
        logits, sigma = self.module(batch.inputs, per_member=per_member)  # [M, V, B, C]
        m, v, b, c = logits.shape
        mask = batch.mask if per_member else batch.mask.expand(m, *batch.mask.shape)
        labels = batch.labels if per_member else batch.labels.expand(m, b)
        zl = logits.transpose(0, 1).reshape(v, m * b, c)
        zs = sigma.transpose(0, 1).reshape(v, m * b, c)
        rows = fused_heteroscedastic_nll(
            zl, zs, mask.reshape(m * b, v), labels.reshape(m * b), self.spec.sigma_samples, self.spec.head_loss_weight
        )
        return rows.view(m, b)

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._member_losses(batch, per_member=True).mean(1)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._member_losses(batch, per_member=False).sum(1)

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """Each member's fused logits (mean over the present modalities) on its own rows, [M, B, C]."""
        logits, _ = self.module(batch.inputs, per_member=True)  # [M, V, B, C]
        m, v, b, c = logits.shape
        fused = masked_mean(logits.transpose(0, 1).reshape(v, m * b, c), batch.mask.reshape(m * b, v))
        return fused.view(m, b, c)

    def predict(self, batch: Batch) -> Prediction:
        logits, sigma = self.module(batch.inputs, per_member=False)  # eval mode: dropout off
        heads = self.spec.head_loss_weight > 0
        return sampled_prediction(logits, sigma, batch.mask, self.spec.sigma_samples, self.modalities, heads)
