"""Uncertainty decompositions: per-row logit noise, and the Dirichlet form of the mutual information."""

from __future__ import annotations

import pytest
import torch

from lumabench.evaluate.uncertainty import dirichlet_decomposition, entropy, heteroscedastic_probs
from lumabench.methods.base import Prediction


def test_identical_rows_draw_their_own_noise() -> None:
    z = torch.tensor([0.5, -1.0, 2.0, 0.0]).expand(2, 3, 4).clone()  # [S=2, B=3, C]: every row the same
    sigma = torch.full_like(z, 2.0)
    p = heteroscedastic_probs(z, sigma, samples=4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(p[:, 0], p[:, 1]) and not torch.allclose(p[:, 1], p[:, 2])
    # one draw per row is shared by the row's model samples (common random numbers)
    assert torch.equal(p[0], p[1])
    again = heteroscedastic_probs(z, sigma, samples=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(p, again)
    other = heteroscedastic_probs(z, sigma, samples=4, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(p, other)


def test_dirichlet_epistemic_is_the_mutual_information() -> None:
    alpha = torch.tensor([[2.0, 3.0, 5.0], [0.5, 0.5, 0.5], [10.0, 1.0, 1.0]])
    d = dirichlet_decomposition(alpha)
    torch.manual_seed(0)
    n = 400_000
    p = torch.distributions.Dirichlet(alpha.double()).sample((n,))  # [n, B, K]
    h = entropy(p)  # [n, B]
    mc = entropy(p.mean(0)) - h.mean(0)
    se = h.std(0) / n**0.5
    assert torch.all((d["epistemic"].double() - mc).abs() < 4 * se + 1e-3), (d["epistemic"], mc, se)
    assert torch.all(d["epistemic"] >= 0)
    assert torch.allclose(d["total"], d["aleatoric"] + d["epistemic"], atol=1e-6)
    assert torch.allclose(d["vacuity"], 3 / alpha.sum(-1))


def test_dirichlet_epistemic_vanishes_as_evidence_grows() -> None:
    """Fixed α/S, growing S: I(y; p) ≈ (K − 1) / (2S) → 0, while the mean predictive stays the same."""
    m = torch.tensor([0.1, 0.2, 0.3, 0.4])
    prev = float("inf")
    for s in (4.0, 40.0, 400.0, 4000.0, 40000.0):
        d = dirichlet_decomposition((m * s).unsqueeze(0))
        e = d["epistemic"].item()
        assert 0 <= e < prev
        prev = e
        assert torch.allclose(d["probs"][0], m, atol=1e-6)
    assert prev * 40000.0 == pytest.approx(1.5, rel=1e-2)  # (K − 1)/2 = 1.5


def test_prediction_carries_extras_through_cat_and_cpu() -> None:
    def part(b: int, v: float) -> Prediction:
        probs = torch.full((b, 3), 1 / 3)
        u = torch.zeros(b)
        sub = Prediction(probs, u, u, u, extras={"vacuity": torch.full((b,), v + 1)})
        return Prediction(probs, u, u, u, {"text": sub}, {"vacuity": torch.full((b,), v, dtype=torch.float64)})

    out = Prediction.cat([part(2, 0.5), part(3, 0.25)]).cpu()
    assert torch.equal(out.extras["vacuity"], torch.tensor([0.5, 0.5, 0.25, 0.25, 0.25]))
    assert out.extras["vacuity"].dtype == torch.float32
    assert torch.equal(out.per_modality["text"].extras["vacuity"], torch.tensor([1.5, 1.5, 1.25, 1.25, 1.25]))
    assert Prediction(out.probs, out.total, out.total, out.total).extras == {}
