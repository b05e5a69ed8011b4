"""Uncertainty decompositions shared by every method (formulas in docs/uncertainty.md).

Sampling methods (MC Dropout, Deep Ensemble) give class probabilities p[s, t, b, c] for model sample
s (dropout mask or ensemble member) and logit-noise sample t of the heteroscedastic head. With
p_s = mean_t p[s, t] (the aleatoric noise integrated out for one model) and p = mean_s p_s:

    total     = H(p)                       entropy of the mean predictive
    aleatoric = mean_s H(p_s)              expected entropy (Kendall & Gal, NeurIPS 2017)
    epistemic = total - aleatoric          mutual information I(y; model) >= 0 (Depeweg et al., ICML 2018)

Evidential methods (RCML) give a Dirichlet Dir(alpha) per sample; the same decomposition in its
Dirichlet form (Malinin & Gales, NeurIPS 2018, "Predictive uncertainty estimation via prior networks"):

    total     = H(alpha / S)               entropy of the mean predictive, S = sum_c alpha_c
    aleatoric = E_{p ~ Dir}[H(p)] = -sum_c alpha_c/S (psi(alpha_c + 1) - psi(S + 1))
    epistemic = total - aleatoric          mutual information I(y; p) >= 0

The vacuity K/S (Josang 2016, subjective logic) is a different quantity (evidence mass, not
information): it is returned as an extra, never as the epistemic uncertainty.
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
    """p[s, b, c] = mean_t softmax(z[s, b] + sigma[s, b] * eps[t, b])_c, eps[t, b] ~ N(0, I_C).

    `logits` and `sigma` are [S, B, C]; sigma is a standard deviation in logit space (the same
    quantity the heteroscedastic loss samples with; Kendall & Gal, NeurIPS 2017, eq. 12). Every row b
    draws its own noise, so rows are independent of which others share the batch. The draw of a row
    is shared across its S model samples (common random numbers): p_s and p_s' then differ only by
    the model, which lowers the variance of the mutual information H(mean_s p_s) - mean_s H(p_s).
    """
    z = logits.float()
    sd = sigma.float()
    step = max(1, NOISE_BUDGET // max(1, z.numel()))  # draws per chunk
    acc = torch.zeros_like(z)
    for t0 in range(0, samples, step):
        t = min(step, samples - t0)
        eps = torch.randn((t, 1, *z.shape[1:]), generator=generator, device=z.device)  # [t, 1, B, C]
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
    """Mean predictive alpha/S, (aleatoric, epistemic, total) and the vacuity K/S of Dir(alpha) [..., K].

    Malinin & Gales (NeurIPS 2018): total = H(alpha/S), aleatoric = expected entropy
    -sum_c (alpha_c/S)(psi(alpha_c + 1) - psi(S + 1)), epistemic = their difference, the mutual
    information between the label and p ~ Dir(alpha), about (K - 1)/(2S) for large S. Computed in
    float64 (the difference of two numbers near log K) and returned as float32.
    """
    a = alpha.double()
    s = a.sum(-1, keepdim=True)
    mean = a / s
    k = a.shape[-1]
    total = entropy(mean)
    aleatoric = -(mean * (torch.digamma(a + 1.0) - torch.digamma(s + 1.0))).sum(-1)
    epistemic = (total - aleatoric).clamp_min(0.0)
    return {
        "probs": mean.float(),
        "aleatoric": (total - epistemic).float(),
        "epistemic": epistemic.float(),
        "total": total.float(),
        "vacuity": (k / s.squeeze(-1)).float(),
    }
