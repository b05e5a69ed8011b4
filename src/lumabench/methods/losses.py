"""Training losses shared by the methods (formulas and sources in docs/uncertainty.md)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def heteroscedastic_ce(
    logits: torch.Tensor,
    sigma: torch.Tensor,
    labels: torch.Tensor,
    samples: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-row mean_t CE(z + σ ⊙ ε_t, y), ε_t ~ N(0, I), t = 1..T (Kendall & Gal, NeurIPS 2017, eq. 12).

    `logits`, `sigma` [..., C], `labels` [...]; returns [...] (unreduced). σ is a standard deviation.
    """
    eps = torch.randn((samples, *logits.shape), generator=generator, device=logits.device, dtype=torch.float32)
    z = logits.float().unsqueeze(0) + sigma.float().unsqueeze(0) * eps
    y = labels.unsqueeze(0).expand(z.shape[:-1])
    ce = F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), reduction="none")
    return ce.view(z.shape[:-1]).mean(0)


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
    per view and for the fused view by RCML (Xu et al., AAAI 2024); λ = min(1, epoch / anneal).
    """
    alpha = alpha.float()
    y = F.one_hot(labels, alpha.shape[-1]).to(alpha.dtype)
    s = alpha.sum(-1, keepdim=True)
    fit = (y * (torch.digamma(s) - torch.digamma(alpha))).sum(-1)
    if kl_weight == 0.0:
        return fit
    alpha_tilde = y + (1.0 - y) * alpha
    return fit + kl_weight * dirichlet_kl_uniform(alpha_tilde)
