"""The heteroscedastic loss of Kendall & Gal (NeurIPS 2017, eq. 12): closed forms, and σ that learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lumabench.methods.losses import fused_heteroscedastic_nll, heteroscedastic_nll


def _mean_of_ce(
    logits: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor, samples: int, generator: torch.Generator
) -> torch.Tensor:
    """The earlier (and the LUMA reference tool's) form, mean_t CE(z + σ ε_t, y): kept here as a contrast only."""
    eps = torch.randn((samples, *logits.shape), generator=generator)
    z = logits.unsqueeze(0) + sigma.unsqueeze(0) * eps
    y = labels.unsqueeze(0).expand(samples, -1)
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), reduction="none").view(samples, -1).mean(0)


def test_zero_sigma_and_one_draw_give_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    ce = F.cross_entropy(z, y, reduction="none")
    assert torch.allclose(heteroscedastic_nll(z, torch.zeros_like(z), y, 7), ce, atol=1e-6)
    # T = 1: the loss is the cross-entropy of the one noisy draw
    sigma = torch.rand(6, 5, generator=g) * 2
    eps = torch.randn((1, 6, 5), generator=torch.Generator().manual_seed(3))
    want = F.cross_entropy(z + sigma * eps[0], y, reduction="none")
    got = heteroscedastic_nll(z, sigma, y, 1, torch.Generator().manual_seed(3))
    assert torch.allclose(got, want, atol=1e-6)


def test_is_minus_log_of_the_mean_softmax() -> None:
    z = torch.tensor([[1.0, -0.5, 0.2]])
    sigma = torch.tensor([[0.7, 1.3, 0.4]])
    y = torch.tensor([2])
    eps = torch.randn((50, 1, 3), generator=torch.Generator().manual_seed(5))
    want = -torch.log(torch.softmax(z + sigma * eps, -1)[..., 2].mean(0))
    got = heteroscedastic_nll(z, sigma, y, 50, torch.Generator().manual_seed(5))
    assert got.item() == pytest.approx(want.item(), abs=1e-6)
    # stable where the probabilities underflow: −log of a mean of e^-200-scale terms stays finite
    far = heteroscedastic_nll(torch.tensor([[300.0, 0.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([1]), 20)
    assert torch.isfinite(far).all() and far.item() > 250


def test_noise_lowers_the_loss_of_a_misclassified_row() -> None:
    """Eq. 12 can prefer σ > 0 where the logits are wrong; the mean-of-CE form never can (Jensen)."""
    z = torch.tensor([[3.0, 0.0]])
    y = torch.tensor([1])
    at0 = heteroscedastic_nll(z, torch.zeros_like(z), y, 2000)
    at3 = heteroscedastic_nll(z, torch.full_like(z, 3.0), y, 2000, torch.Generator().manual_seed(1))
    assert at0.item() == pytest.approx(math.log1p(math.exp(3.0)), abs=1e-5)  # 3.049
    assert at3.item() < at0.item() - 1.0
    old3 = _mean_of_ce(z, torch.full_like(z, 3.0), y, 2000, torch.Generator().manual_seed(1))
    assert old3.item() > at0.item()


def test_fused_loss_adds_the_mean_of_the_present_heads() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 4, 5, generator=g)  # [V, N, C]
    sigma = torch.rand(3, 4, 5, generator=g)
    mask = torch.tensor([[True, True, True], [True, False, True], [False, False, True], [False, False, False]])
    y = torch.tensor([0, 1, 2, 3])
    zero = torch.zeros_like(sigma)
    got = fused_heteroscedastic_nll(logits, zero, mask, y, 4, head_weight=0.5)
    ce = F.cross_entropy(logits.reshape(-1, 5), y.repeat(3), reduction="none").view(3, 4)
    m = mask.t().float()
    fused = (logits * m.unsqueeze(-1)).sum(0) / m.sum(0).clamp_min(1).unsqueeze(-1)
    want = F.cross_entropy(fused, y, reduction="none") + 0.5 * (ce * m).sum(0) / m.sum(0).clamp_min(1)
    assert torch.allclose(got, want, atol=1e-5)
    assert got[3].item() == pytest.approx(math.log(5), abs=1e-5)  # nothing present: uniform, no head term
    only = fused_heteroscedastic_nll(logits, zero, mask, y, 4, head_weight=0.0)
    assert torch.allclose(only, F.cross_entropy(fused, y, reduction="none"), atol=1e-5)


def _sigma_by_half(loss_fn, seed: int = 0, steps: int = 300, samples: int = 20) -> tuple[float, float]:
    """Train a tiny MLP (class head + softplus σ head) on Gaussian blobs whose second half (flagged by an
    input feature) has 30 % of its labels switched; return the mean σ on the noisy and the clean half."""
    g = torch.Generator().manual_seed(seed)
    k, d, n = 4, 8, 800
    centres = 3.0 * torch.randn(k, d, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    x = centres[y] + torch.randn(n, d, generator=g)
    noisy = torch.arange(n) % 2 == 1
    switched = noisy & (torch.rand(n, generator=g) < 0.3)
    y_obs = torch.where(switched, (y + torch.randint(1, k, (n,), generator=g)) % k, y)
    feats = torch.cat([x, 2.0 * noisy.float().unsqueeze(1) - 1.0], 1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        body = nn.Sequential(nn.Linear(d + 1, 32), nn.ReLU())
        head, sigma_head = nn.Linear(32, k), nn.Linear(32, k)
    opt = torch.optim.Adam([*body.parameters(), *head.parameters(), *sigma_head.parameters()], lr=1e-2)
    noise = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        h = body(feats)
        loss = loss_fn(head(h), F.softplus(sigma_head(h)), y_obs, samples, noise).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s = F.softplus(sigma_head(body(feats))).mean(1)
    return s[noisy].mean().item(), s[~noisy].mean().item()


def test_sigma_learns_where_labels_are_noisy() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small run 5x faster on one thread than on two busy ones
    try:
        noisy, clean = _sigma_by_half(heteroscedastic_nll)
        old_noisy, _ = _sigma_by_half(_mean_of_ce)
    finally:
        torch.set_num_threads(threads)
    # measured: noisy 1.00, clean 0.05 (seeds 0-9: noisy 0.15-1.00, ratio 3.1-19)
    assert noisy > 0.1 and noisy > 2.0 * clean, (noisy, clean)
    # the mean-of-CE form drives σ to 0 everywhere (measured 0.005)
    assert old_noisy < 0.02 and noisy > 10 * old_noisy, (old_noisy, noisy)
