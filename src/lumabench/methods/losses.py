"""Training losses shared by the methods (formulas and sources in docs/uncertainty.md)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lumabench.models.fusion import mean_logits_sigma


def heteroscedastic_nll(
    logits: torch.Tensor,
    sigma: torch.Tensor,
    labels: torch.Tensor,
    samples: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-row −log((1/T) Σ_t softmax(z + σ ⊙ ε_t)_y), ε_t ~ N(0, I) (Kendall & Gal, NeurIPS 2017, eq. 12).

    The log of the MEAN of the noisy softmaxes, computed stably as
    −(logsumexp_t log_softmax(z_t)_y − log T). Averaging CE(z_t, y) over t instead (the LUMA reference
    tool) is ≥ CE(z, y) by Jensen (CE is convex in the logits), so it is minimised at σ = 0 and the σ
    head learns nothing; the log-mean form lets σ > 0 lower the loss of rows the logits cannot fit.
    `logits`, `sigma` [..., C] (σ a standard deviation), `labels` [...]; returns [...] (unreduced).
    """
    eps = torch.randn((samples, *logits.shape), generator=generator, device=logits.device, dtype=torch.float32)
    z = torch.addcmul(logits.float().unsqueeze(0), sigma.float().unsqueeze(0), eps)  # [T, ..., C]
    y = labels.unsqueeze(0).expand(z.shape[:-1]).unsqueeze(-1)
    log_py = torch.log_softmax(z, dim=-1).gather(-1, y).squeeze(-1)  # [T, ...]
    return math.log(samples) - torch.logsumexp(log_py, dim=0)


def fused_heteroscedastic_nll(
    logits: torch.Tensor,
    sigma: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    samples: int,
    head_weight: float,
) -> torch.Tensor:
    """Per-row loss of a fused sampling model: L(fused) + w · mean over present heads of L(head).

    `logits`, `sigma` [V, N, C], `mask` [N, V], `labels` [N]; L = `heteroscedastic_nll`. The fused
    output is the mean of the present heads' logits and σ (LUMA-SPEC §7). Training only that mean
    leaves each head unidentified (any offsets that cancel in the mean give the same loss), so with
    w > 0 and several modalities each present head is also trained on its own; a row with no
    modality present has no head term. Returns [N].
    """
    fz, fs = mean_logits_sigma(logits, sigma, mask)
    loss = heteroscedastic_nll(fz, fs, labels, samples)
    if head_weight == 0.0 or logits.shape[0] == 1:
        return loss
    v = logits.shape[0]
    heads = heteroscedastic_nll(logits, sigma, labels.unsqueeze(0).expand(v, -1), samples)  # [V, N]
    m = mask.t().to(heads.dtype)
    return loss + head_weight * (heads * m).sum(0) / m.sum(0).clamp_min(1.0)


def dirichlet_kl_uniform(alpha: torch.Tensor) -> torch.Tensor:
    """KL(Dir(α) || Dir(1, ..., 1)) per row (Sensoy et al., NeurIPS 2018, eq. 5's regulariser)."""
    k = alpha.shape[-1]
    s = alpha.sum(-1)
    return (
        torch.lgamma(s)
        - math.lgamma(k)  # a Python float: no host-to-device copy (and no GPU sync) per step
        - torch.lgamma(alpha).sum(-1)
        + ((alpha - 1.0) * (torch.digamma(alpha) - torch.digamma(s).unsqueeze(-1))).sum(-1)
    )


def edl_digamma_loss(alpha: torch.Tensor, labels: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """Evidential loss per row: Σ_k y_k (ψ(S) − ψ(α_k)) + λ KL(Dir(α̃) || Dir(1)), α̃ = y + (1 − y) ⊙ α.

    The expected cross-entropy under Dir(α) (Sensoy et al., NeurIPS 2018, eq. 4, digamma form), as used
    per view and for the fused view by RCML (Xu, Si, Guan, Zhao, Wu, Gao; AAAI 2024); λ is the
    annealing weight min(1, epoch / anneal epochs).
    """
    alpha = alpha.float()
    y = F.one_hot(labels, alpha.shape[-1]).to(alpha.dtype)
    s = alpha.sum(-1, keepdim=True)
    fit = (y * (torch.digamma(s) - torch.digamma(alpha))).sum(-1)
    if kl_weight == 0.0:
        return fit
    alpha_tilde = y + (1.0 - y) * alpha
    return fit + kl_weight * dirichlet_kl_uniform(alpha_tilde)


def distillation_kl(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t/T) ‖ softmax(s/T)) per row, the teacher's logits `t` detached; [..., C] -> [...].

    The self-distillation term of McKinzie et al. (ICML 2023): identical logits give exactly 0. Not
    multiplied by T² (Hinton et al.'s scaling): the formula as stated, λ carries the scale.
    """
    log_t = torch.log_softmax(teacher.detach().float() / temperature, dim=-1)
    log_s = torch.log_softmax(student.float() / temperature, dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(-1)
