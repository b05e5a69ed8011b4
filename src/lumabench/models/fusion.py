"""Fusion operators over a list of modalities, with a presence mask for missing modalities.

Inputs are stacked per modality: x [V, N, C] and mask [N, V] (True = the modality is present for
that sample). A missing modality is dropped from the fusion of that sample; a sample with no
modality at all fuses to zeros (zero logits = the uniform predictive; zero evidence = Dir(1), full
vacuity), which is the honest answer when nothing was observed.
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the present modalities: sum_v m_v x_v / max(1, sum_v m_v); x [V, N, C], mask [N, V]."""
    w = mask.t().to(x.dtype).unsqueeze(-1)
    return (x * w).sum(0) / w.sum(0).clamp_min(1.0)


def mean_logits_sigma(
    logits: torch.Tensor, sigma: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling-method fusion (LUMA-SPEC §7): the mean of the modalities' logits and of their σ."""
    return masked_mean(logits, mask), masked_mean(sigma, mask)


def average_evidence(evidence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RCML fusion: the mean of the modalities' evidences (Xu et al., AAAI 2024, average aggregation).

    The RCML reference code averages views pairwise in sequence ((e1 + e2)/2 + e3)/2, which weighs the
    last view by 1/2; the paper's rule, used here, weighs every present view equally.
    """
    return masked_mean(evidence, mask)


def conflictive_degree(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pairwise conflictive degree between the present views of each sample, [N].

    For views i, j with projected probabilities p = alpha/S and vacuities u = K/S (Xu et al., AAAI
    2024, eqs. 9-11): c(i, j) = (1/2 sum_k |p_ik - p_jk|) * (1 - u_i)(1 - u_j). Per sample the sum
    over ordered pairs i != j is divided by (n_present - 1), as in RCML; 0 with fewer than two views.
    """
    k = alpha.shape[-1]
    s = alpha.sum(-1, keepdim=True)
    p = alpha / s  # [V, N, C]
    cert = 1.0 - k / s.squeeze(-1)  # [V, N]
    dist = 0.5 * (p.unsqueeze(0) - p.unsqueeze(1)).abs().sum(-1)  # [V, V, N]
    both = cert.unsqueeze(0) * cert.unsqueeze(1)
    m = mask.t().to(alpha.dtype)  # [V, N]
    pair = m.unsqueeze(0) * m.unsqueeze(1)
    total = (dist * both * pair).sum((0, 1))
    return total / (m.sum(0) - 1.0).clamp_min(1.0)
