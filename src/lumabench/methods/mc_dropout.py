"""MC Dropout (Gal & Ghahramani, ICML 2016) with a heteroscedastic σ head (Kendall & Gal, NeurIPS 2017).

Training: the fused logits z and σ (mean over the present modalities) enter the heteroscedastic
loss −log((1/T) Σ_t softmax(z + σ ⊙ ε_t)_y); a fused model adds `head_loss_weight` times the mean
of the present modalities' own losses, so each head is a predictor in its own right (without it
per-modality predictions are not made). Prediction: dropout stays on; the S dropout samples run as one
batched forward (the deterministic stem once, its output repeated S times), and each sample's
predictive integrates the logit noise with T draws before the decomposition of
`evaluate.uncertainty.sampling_decomposition`.
"""

from __future__ import annotations

import torch
from torch import nn

from lumabench.data import Batch
from lumabench.evaluate.uncertainty import heteroscedastic_probs, sampling_decomposition
from lumabench.methods.base import Method, Prediction
from lumabench.methods.losses import fused_heteroscedastic_nll
from lumabench.methods.registry import register
from lumabench.models.fusion import masked_mean, mean_logits_sigma


def sampled_prediction(
    logits: torch.Tensor,
    sigma: torch.Tensor,
    mask: torch.Tensor,
    sigma_samples: int,
    modalities: list[str],
    heads: bool = True,
) -> Prediction:
    """Prediction from per-model-sample outputs logits, σ [S, V, B, C] and mask [B, V].

    Fused: the mean over present modalities; per modality: that modality's own head (fused models
    only, and only when `heads`: each head was trained on its own, `head_loss_weight` > 0).
    """
    s, v, b, c = logits.shape
    flat_mask = mask.repeat(s, 1)  # [S*B, V]
    zl = logits.permute(1, 0, 2, 3).reshape(v, s * b, c)
    zs = sigma.permute(1, 0, 2, 3).reshape(v, s * b, c)
    fz, fs = mean_logits_sigma(zl, zs, flat_mask)
    fused = sampling_decomposition(heteroscedastic_probs(fz.view(s, b, c), fs.view(s, b, c), sigma_samples))
    per: dict[str, Prediction] = {}
    if v > 1 and heads:
        for i, m in enumerate(modalities):
            d = sampling_decomposition(heteroscedastic_probs(logits[:, i], sigma[:, i], sigma_samples))
            per[m] = Prediction(d["probs"], d["aleatoric"], d["epistemic"], d["total"])
    return Prediction(fused["probs"], fused["aleatoric"], fused["epistemic"], fused["total"], per)


@register("mc_dropout")
class MCDropout(Method):
    """One network; dropout p at train and test time; S samples at prediction."""

    def build(self) -> nn.Module:
        return self.encoder_net(sigma=True)

    def repeats(self) -> int:
        return self.spec.samples

    def _rows(self, batch: Batch) -> torch.Tensor:
        """Per-row loss: fused heteroscedastic NLL plus the weighted mean of the present heads' own."""
        logits, sigma = self.module(batch.inputs)
        return fused_heteroscedastic_nll(
            logits, sigma, batch.mask, batch.labels, self.spec.sigma_samples, self.spec.head_loss_weight
        )

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        return self._rows(batch).mean().unsqueeze(0)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        return self._rows(batch).sum().unsqueeze(0)

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """The fused logits (mean over the present modalities) of one dropout forward, [1, B, C]."""
        logits, _ = self.module(batch.inputs)
        return masked_mean(logits, batch.mask).unsqueeze(0)

    def predict(self, batch: Batch) -> Prediction:
        was = self.module.training
        self.module.train()  # dropout on at test time: that is the method (no batch-norm layers here)
        try:
            n = batch.labels.shape[0]
            logits, sigma = self.module(batch.inputs, repeat=self.spec.samples)  # [V, S*B, C]
        finally:
            self.module.train(was)
        v, _, c = logits.shape
        logits = logits.view(v, self.spec.samples, n, c).transpose(0, 1)
        sigma = sigma.view(v, self.spec.samples, n, c).transpose(0, 1)
        heads = self.spec.head_loss_weight > 0
        return sampled_prediction(logits, sigma, batch.mask, self.spec.sigma_samples, self.modalities, heads)
