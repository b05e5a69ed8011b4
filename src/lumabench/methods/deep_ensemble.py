"""Deep Ensemble (Lakshminarayanan et al., NeurIPS 2017) with heteroscedastic σ heads.

The M members are M independently initialised copies of the same network, run as ONE network
(`models.ensemble.EnsembleNet`: grouped convolutions and batched matmuls over a member axis). In
training every member sees its own permutation of the data, draws its own dropout masks and noise
and minimises its own loss (the summed loss has block-diagonal gradients, and Adam is element-wise,
so members stay independent); each keeps its own best-validation checkpoint. At test time dropout
is off and the members' predictive distributions are decomposed like MC samples.
"""

from __future__ import annotations

import torch
from torch import nn

from lumabench.data import Batch
from lumabench.methods.base import Method, Prediction
from lumabench.methods.losses import heteroscedastic_ce
from lumabench.methods.mc_dropout import sampled_prediction
from lumabench.methods.registry import register
from lumabench.models.encoders import MultiModalNet
from lumabench.models.ensemble import EnsembleNet
from lumabench.models.fusion import mean_logits_sigma
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
            net = MultiModalNet(
                self.modalities, self.n_classes, self.spec.dropout, self.text_dim, True, self.audio_shape
            )
            members.append(net)
        return EnsembleNet(members, self.cfg.ensemble_conv)

    def _member_losses(self, batch: Batch, per_member: bool) -> torch.Tensor:
        """Heteroscedastic CE [M, B] of each member's fused output."""
        logits, sigma = self.module(batch.inputs, per_member=per_member)  # [M, V, B, C]
        m, v, b, c = logits.shape
        mask = batch.mask if per_member else batch.mask.expand(m, *batch.mask.shape)
        labels = batch.labels if per_member else batch.labels.expand(m, b)
        zl = logits.transpose(0, 1).reshape(v, m * b, c)
        zs = sigma.transpose(0, 1).reshape(v, m * b, c)
        fz, fs = mean_logits_sigma(zl, zs, mask.reshape(m * b, v))
        return heteroscedastic_ce(fz, fs, labels.reshape(m * b), self.spec.sigma_samples).view(m, b)

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._member_losses(batch, per_member=True).mean(1)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._member_losses(batch, per_member=False).sum(1)

    def predict(self, batch: Batch) -> Prediction:
        logits, sigma = self.module(batch.inputs, per_member=False)  # eval mode: dropout off
        return sampled_prediction(logits, sigma, batch.mask, self.spec.sigma_samples, self.modalities)
