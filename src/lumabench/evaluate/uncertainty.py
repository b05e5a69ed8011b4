"""Uncertainty decompositions shared by every method (formulas in docs/uncertainty.md).

Sampling methods (MC Dropout, Deep Ensemble) give class probabilities p[s, t, b, c] for model sample
s (dropout mask or ensemble member) and logit-noise sample t of the heteroscedastic head. With
p_s = mean_t p[s, t] (the aleatoric noise integrated out for one model) and p = mean_s p_s:

    total     = H(p)                       entropy of the mean predictive
    aleatoric = mean_s H(p_s)              expected entropy (Kendall & Gal, NeurIPS 2017)
    epistemic = total - aleatoric          mutual information I(y; model) >= 0 (Depeweg et al., ICML 2018)

Evidential methods (RCML) give a Dirichlet Dir(alpha) per sample (Sensoy et al., NeurIPS 2018):

    total     = H(alpha / S)               entropy of the mean predictive, S = sum_c alpha_c
    aleatoric = E_{p ~ Dir}[H(p)] = -sum_c alpha_c/S (psi(alpha_c + 1) - psi(S + 1))
    epistemic = K / S                      vacuity (Josang 2016, subjective logic)
"""

from __future__ import annotations

import torch

EPS = 1e-12
# Noise draws x logits held at once while integrating the σ noise (bounds memory, not results).
NOISE_BUDGET = 2**23


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats, 0 log 0 = 0."""
    return -(probs * torch.log(probs.clamp_min(EPS))).sum(dim)


def heteroscedastic_probs(
    logits: torch.Tensor, sigma: torch.Tensor, samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """p[s, b, c] = mean_t softmax(z + sigma * eps_t) over the classes, eps_t ~ N(0, I).

    `logits` and `sigma` are [S, B, C]; sigma is a standard deviation in logit space (the same
    quantity the heteroscedastic loss samples with; Kendall & Gal 2017, eq. 12).
    """
    z = logits.float()
    sd = sigma.float()
    step = max(1, NOISE_BUDGET // max(1, z.numel()))  # draws per chunk
    acc = torch.zeros_like(z)
    for t0 in range(0, samples, step):
        t = min(step, samples - t0)
        # One draw per class shared by every row and model sample of the chunk: each row's estimate is
        # still an average over `samples` independent draws, and common draws across model samples make
        # their differences (the mutual information) less noisy; it also saves most of the sampling cost.
        eps = torch.randn((t, *([1] * (z.dim() - 1)), z.shape[-1]), generator=generator, device=z.device)
        acc += torch.softmax(torch.addcmul(z.unsqueeze(0), sd.unsqueeze(0), eps), dim=-1).sum(0)
    return acc / samples


def sampling_decomposition(per_sample_probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean predictive and (aleatoric, epistemic, total) from p[s, b, c] (already noise-averaged)."""
    mean = per_sample_probs.mean(0)
    total = entropy(mean)
    aleatoric = entropy(per_sample_probs).mean(0)
    epistemic = (total - aleatoric).clamp_min(0.0)
    return {"probs": mean, "aleatoric": total - epistemic, "epistemic": epistemic, "total": total}


def dirichlet_decomposition(alpha: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean predictive alpha/S and (expected entropy, vacuity K/S, entropy of the mean) of Dir(alpha)."""
    alpha = alpha.float()
    s = alpha.sum(-1, keepdim=True)
    mean = alpha / s
    k = alpha.shape[-1]
    aleatoric = -(mean * (torch.digamma(alpha + 1.0) - torch.digamma(s + 1.0))).sum(-1)
    return {"probs": mean, "aleatoric": aleatoric, "epistemic": k / s.squeeze(-1), "total": entropy(mean)}
