"""MLA: Multimodal Representation Learning by Alternating Unimodal Adaptation.

Zhang, Yoon, Bansal, Yao, CVPR 2024 (arXiv 2311.10707); method section: alternating unimodal
learning, gradient modification of the shared head, test-time dynamic fusion.

Structure: one encoder per modality (the LUMA encoders of `models.encoders`, their class head
replaced by a linear projection to a common width d = `mla.width`) and ONE linear head W shared by
every modality: logits_m = W h_m + b.

Training (`substeps`): per mini-batch, each modality in turn, on the rows where it is present, takes
its own optimiser step on CE(head(h_m), y); only that modality's encoder and the head move. With
`mla.hgm` the head's update is projected by the orthogonal-weight-modification matrix P (Zeng, Chen,
Cui, Yu, "Continual learning of context-dependent processing in neural networks", Nature Machine
Intelligence 2019, Methods: the recursive-least-squares update of P and ΔW = κ ΔW_BP P), built from
the latest mean features h̄ of the OTHER modalities: k = P h̄, P ← P − k kᵀ / (α + h̄ᵀ k) from P = I,
then ΔW ← ΔW P, so W h̄ of those modalities stays put. α decays geometrically from
`hgm_alpha_start` to `hgm_alpha_end` within every epoch. The authors' code never applies it (its
parameter-name check never matches) and divides element-wise by an outer product; this is the OWM
form. docs/mla.md says why P is rebuilt per step and why the update, not the gradient, is projected
by default.

Prediction: `mla.samples` MC-dropout passes over the encoders (Gal & Ghahramani, ICML 2016). In each
pass, per sample and present modality, e_m = H(softmax(logits_m)); weights w = softmax over the
present modalities of −e_m (MLA's test-time dynamic fusion, per sample, not one entropy per batch
as in the authors' code) or equal weights (`mla.fusion: fixed`); fused logits Σ_m w_m logits_m.
Uncertainty: the project's decomposition over the passes (`evaluate.uncertainty.sampling_decomposition`:
total = entropy of the mean, aleatoric = expected entropy, epistemic = their difference). Extras:
`weight_<modality>`, the per-sample fusion weight averaged over the passes (NaN where missing).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from lumabench.data import Batch, Normaliser, SplitTensors
from lumabench.evaluate.uncertainty import entropy, sampling_decomposition
from lumabench.methods.base import FitReport, Method, Prediction, SubStep
from lumabench.methods.registry import register
from lumabench.models.encoders import build_encoder


def fusion_weights(logits: torch.Tensor, mask: torch.Tensor, rule: str) -> torch.Tensor:
    """Per-sample fusion weights [..., V, B] from per-modality logits [..., V, B, C] and presence mask [B, V].

    "dynamic" (MLA, Zhang et al., CVPR 2024, test-time dynamic fusion): w_m = exp(−e_m) / Σ_{present} exp(−e_j),
    e_m = H(softmax(logits_m)) in nats, per sample. "fixed": 1 / (number present). A missing modality
    weighs 0; a sample with nothing present gets all-zero weights (its fused logits are 0: uniform).
    """
    present = mask.t()  # [V, B]
    if rule == "dynamic":
        score = -entropy(torch.softmax(logits.float(), dim=-1))
    elif rule == "fixed":
        score = torch.zeros(logits.shape[:-1], dtype=torch.float32, device=logits.device)
    else:
        raise ValueError(f"unknown MLA fusion {rule!r}; expected 'dynamic' or 'fixed'")
    score = score.masked_fill(~present, -math.inf)
    return torch.softmax(score, dim=-2).nan_to_num(0.0)  # all missing: softmax of -inf is NaN -> 0


def fuse_logits(logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_m w_m logits_m: logits [..., V, B, C], weights [..., V, B] -> [..., B, C]."""
    return (weights.unsqueeze(-1) * logits.float()).sum(-3)


def owm_projector(means: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """P [d, d] from P = I by the OWM recursion over the mean features, in order (Zeng et al. 2019, Methods).

    For each h̄: k = P h̄, P ← P − k kᵀ / (α + h̄ᵀ k). P stays symmetric and P h̄ ≈ α / (α + |h̄|²) h̄,
    so an update ΔW P leaves W h̄ nearly unchanged once |h̄|² ≫ α.
    """
    d = means[0].numel()
    p = torch.eye(d, dtype=torch.float64, device=means[0].device)
    for h in means:
        x = h.double().reshape(d, 1)
        k = p @ x
        p = p - (k @ k.t()) / (alpha + x.t() @ k)  # [1, 1] denominator: no host sync
    return p.float()


class MLANet(nn.Module):
    """Per-modality encoders projecting to width d, and one shared linear head d -> C."""

    def __init__(
        self,
        modalities: list[str],
        n_classes: int,
        width: int,
        dropout: float,
        text_dim: int,
        audio_shape: tuple[int, int],
        conv_width: float = 1.0,
    ) -> None:
        super().__init__()
        self.modalities = list(modalities)
        # the encoder's own linear "head" is the projection to the common width (no σ head)
        self.encoders = nn.ModuleDict(
            {m: build_encoder(m, width, dropout, text_dim, False, audio_shape, conv_width) for m in modalities}
        )
        self.head = nn.Linear(width, n_classes)
        self.to(memory_format=torch.channels_last)  # conv weights only; inputs in Encoder.forward

    def features(self, modality: str, x: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        """h_m [repeat * N, d] (sample-major when repeat > 1)."""
        return self.encoders[modality](x, repeat)[0]

    def forward(self, inputs: dict[str, torch.Tensor], repeat: int = 1) -> torch.Tensor:
        """Per-modality logits through the shared head, stacked [V, repeat * N, C]."""
        return torch.stack([self.head(self.features(m, inputs[m], repeat)) for m in self.modalities])


@register("mla")
class MLA(Method):
    """Alternating unimodal training on a shared head (with HGM) and entropy-weighted test-time fusion."""

    # a sub-step gathers the rows where its modality is present (a host sync, shapes vary per batch)
    cuda_graphs_supported = False

    def build(self) -> nn.Module:
        s = self.spec.mla
        # latest mean feature of each modality, oldest first; HGM builds P from the others' entries
        self._means: OrderedDict[str, torch.Tensor] = OrderedDict()
        return MLANet(
            self.modalities,
            self.n_classes,
            s.width,
            self.spec.dropout,
            self.text_dim,
            self.audio_shape,
            self.cfg.conv_width,
        )

    @property
    def net(self) -> MLANet:
        assert isinstance(self.module, MLANet)
        return self.module

    def repeats(self) -> int:
        return self.spec.mla.samples

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The project's Adam, or the paper's SGD (`mla.optimizer: sgd`: lr, momentum, weight decay of `mla`)."""
        s = self.spec.mla
        if s.optimizer == "sgd":
            return torch.optim.SGD(
                self.module.parameters(), lr=s.sgd_lr, momentum=s.sgd_momentum, weight_decay=s.sgd_weight_decay
            )
        return super().make_optimizer()

    def fit(self, train: SplitTensors, val: SplitTensors, normaliser: Normaliser) -> FitReport:
        self._means.clear()  # HGM memory starts empty with every fit
        return super().fit(train, val, normaliser)

    # ------------------------------------------------------------ training
    def alpha(self, progress: float) -> float:
        """α at `progress` in [0, 1) of the epoch: start · (end / start)^progress (geometric, like the
        authors' code's 0.1^(1 + batch / batches))."""
        s = self.spec.mla
        return s.hgm_alpha_start * (s.hgm_alpha_end / s.hgm_alpha_start) ** progress

    def projector(self, modality: str, alpha: float) -> torch.Tensor | None:
        """P for `modality`'s step: OWM over the other modalities' latest mean features (None: none yet)."""
        others = [h for m, h in self._means.items() if m != modality]
        return owm_projector(others, alpha) if others else None

    def substeps(self, batch: Batch, epoch: int, progress: float) -> Iterator[SubStep]:
        """One optimiser step per modality, in the model's modality order, on the rows where it is present."""
        net, s = self.net, self.spec.mla
        weight = net.head.weight
        alpha = self.alpha(progress)
        for i, m in enumerate(self.modalities):
            rows = torch.nonzero(batch.mask[:, i]).flatten()
            if rows.numel() == 0:
                continue  # nothing to learn from; an optimiser step on a zero gradient would still move
            h = net.features(m, batch.inputs[m][rows])
            loss = F.cross_entropy(net.head(h).float(), batch.labels[rows])
            proj = self.projector(m, alpha) if s.hgm else None
            edit = None
            if proj is not None and s.hgm_target == "gradient":

                def edit(p: torch.Tensor = proj) -> None:
                    assert weight.grad is not None
                    weight.grad.copy_(weight.grad.float() @ p)

            before = weight.detach().clone() if proj is not None and s.hgm_target == "update" else None
            yield SubStep(loss.unsqueeze(0), params=[*net.encoders[m].parameters(), *net.head.parameters()],
                          edit_grads=edit)  # fmt: skip
            with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
                if before is not None:
                    assert proj is not None
                    weight.copy_(before + (weight.float() - before) @ proj)
                self._means[m] = h.detach().float().mean(0)
                self._means.move_to_end(m)
        if self.spec.distill is not None:
            # one more step, on every parameter, for the self-distillation term (docs/robustness.md)
            yield SubStep(self.distillation(batch))

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """The fused logits of one dropout forward with the configured fusion rule, [1, B, C]."""
        logits = self.module(batch.inputs)  # [V, B, C]
        return fuse_logits(logits, fusion_weights(logits, batch.mask, self.spec.mla.fusion)).unsqueeze(0)

    def _present_ce(self, batch: Batch) -> torch.Tensor:
        """Per-row mean over the present modalities of CE(head(h_m), y) [B] (0 where none is present)."""
        logits = self.module(batch.inputs).float()  # [V, B, C]
        v, b, c = logits.shape
        ce = F.cross_entropy(logits.reshape(v * b, c), batch.labels.repeat(v), reduction="none").view(v, b)
        mask = batch.mask.t().float()
        return (ce * mask).sum(0) / mask.sum(0).clamp_min(1.0)

    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        """The objective the alternating steps minimise, evaluated without stepping: mean unimodal CE [1]."""
        return self._present_ce(batch).mean().unsqueeze(0)

    def val_loss(self, batch: Batch) -> torch.Tensor:
        """NLL of the fused prediction (dropout off, the configured fusion), summed over the batch [1]."""
        logits = self.module(batch.inputs)  # [V, B, C]
        fused = fuse_logits(logits, fusion_weights(logits, batch.mask, self.spec.mla.fusion))
        return F.cross_entropy(fused, batch.labels, reduction="sum").unsqueeze(0)

    # ------------------------------------------------------------ prediction
    def predict(self, batch: Batch) -> Prediction:
        s = self.spec.mla
        was = self.module.training
        self.module.train()  # dropout on: MC-dropout passes (no batch-norm layers in the encoders)
        try:
            n = batch.labels.shape[0]
            logits = self.module(batch.inputs, repeat=s.samples)  # [V, S*B, C]
        finally:
            self.module.train(was)
        v, _, c = logits.shape
        logits = logits.float().view(v, s.samples, n, c).transpose(0, 1)  # [S, V, B, C]
        weights = fusion_weights(logits, batch.mask, s.fusion)  # [S, V, B]
        fused = sampling_decomposition(torch.softmax(fuse_logits(logits, weights), dim=-1))
        mean_w = weights.mean(0).masked_fill(~batch.mask.t(), math.nan)  # [V, B]
        extras = {f"weight_{m}": mean_w[i] for i, m in enumerate(self.modalities)}
        per: dict[str, Prediction] = {}
        if v > 1:
            for i, m in enumerate(self.modalities):
                d = sampling_decomposition(torch.softmax(logits[:, i], dim=-1))
                per[m] = Prediction(d["probs"], d["aleatoric"], d["epistemic"], d["total"])
        return Prediction(fused["probs"], fused["aleatoric"], fused["epistemic"], fused["total"], per, extras)
