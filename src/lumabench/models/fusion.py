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


def mean_evidence(evidence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Order-free RCML fusion (ours, not the paper's): the equal-weight mean of the present views' evidence.

    Every present view weighs 1/n; offered as `methods.<m>.fusion: mean` next to the paper's
    sequential rule, which weighs views by their position. evidence [V, N, C], mask [N, V].
    """
    return masked_mean(evidence, mask)


def sequential_evidence(evidence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The RCML paper's fusion: views are added one at a time, e <- (e + e_v) / 2.

    Xu, Si, Guan, Zhao, Wu, Gao, "Reliable Conflictive Multi-View Learning", AAAI 2024 (average
    aggregation applied view after view); its code computes ((e_1 + e_2)/2 + e_3)/2, so the last
    view weighs 1/2 and the first two 1/4 each. Here the order is the model's modality order over the
    PRESENT views of each row: e = the first present view's evidence, then e = (e + e_v)/2 for each
    next present view; one present view fuses to itself, none to zeros. evidence [V, N, C], mask [N, V].
    """
    acc = torch.zeros_like(evidence[0])
    seen = torch.zeros(mask.shape[0], 1, dtype=torch.bool, device=mask.device)
    for v in range(evidence.shape[0]):
        here = mask[:, v : v + 1]
        acc = torch.where(here, torch.where(seen, 0.5 * (acc + evidence[v]), evidence[v]), acc)
        seen = seen | here
    return acc


def fuse_evidence(evidence: torch.Tensor, mask: torch.Tensor, rule: str) -> torch.Tensor:
    """RCML evidence fusion by name: "sequential" (the paper's and its code's) or "mean" (ours)."""
    if rule == "sequential":
        return sequential_evidence(evidence, mask)
    if rule == "mean":
        return mean_evidence(evidence, mask)
    raise ValueError(f"unknown evidence fusion {rule!r}; expected 'sequential' or 'mean'")


def conflictive_degree(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pairwise conflictive degree between the present views of each sample, [N].

    For views i, j with projected probabilities p = alpha/S and vacuities u = K/S (Xu, Si, Guan, Zhao,
    Wu, Gao, AAAI 2024, eqs. 9-11): c(i, j) = (1/2 sum_k |p_ik - p_jk|) * (1 - u_i)(1 - u_j). Per sample the sum
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
