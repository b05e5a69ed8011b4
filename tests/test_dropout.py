"""The CPU dropout: same distribution and gradient as inverted dropout, seeded like nn.Dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lumabench.models.dropout import Dropout
from lumabench.models.encoders import MultiModalNet, text_encoder
from lumabench.models.ensemble import EnsembleNet


def test_keep_rate_scale_and_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(400_000)
    y = Dropout(0.3).train()(x)
    kept = y != 0
    # 400k Bernoulli(0.7) draws: the standard error of the rate is 7e-4
    assert abs(kept.float().mean().item() - 0.7) < 4e-3
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert abs(y.mean().item() - 1.0) < 6e-3


def test_gradient_is_the_mask() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    y = Dropout(0.5).train()(x)
    y.sum().backward()
    assert x.grad is not None
    expected = torch.where(y != 0, torch.full_like(x, 2.0), torch.zeros_like(x))
    assert torch.equal(x.grad, expected)


def test_eval_and_edge_rates() -> None:
    x = torch.randn(8, 16)
    assert torch.equal(Dropout(0.3).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_seeded_masks_repeat_and_differ_across_seeds() -> None:
    x = torch.ones(1000)
    d = Dropout(0.3).train()
    torch.manual_seed(5)
    a = d(x)
    torch.manual_seed(5)
    b = d(x)
    torch.manual_seed(6)
    c = d(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_is_an_nn_dropout_for_the_models(p: float) -> None:
    enc = text_encoder(5, p, 12)
    drops = [m for m in enc.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(isinstance(m, Dropout) and m.p == p for m in drops)
    # the ensemble shares stateless layers: it must accept this dropout as one of them
    EnsembleNet([MultiModalNet(["text"], 5, p, 12) for _ in range(2)])
