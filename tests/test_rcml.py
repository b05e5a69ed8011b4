"""RCML (Xu, Si, Guan, Zhao, Wu, Gao; AAAI 2024): evidence fusion rules, KL annealing, Dirichlet outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumabench.data import Batch
from lumabench.methods.registry import load_all
from lumabench.models.fusion import fuse_evidence, mean_evidence, sequential_evidence
from lumabench.params import Method as MethodSpec
from lumabench.params import Train, load_params

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
A = torch.tensor([1.0, 0.0, 4.0])
B = torch.tensor([3.0, 2.0, 0.0])
C = torch.tensor([0.0, 6.0, 8.0])


def _evidence() -> torch.Tensor:
    """[V=3, N=1, K=3] hand-made evidence of image, audio, text."""
    return torch.stack([A, B, C]).unsqueeze(1)


def _mask(*present: bool) -> torch.Tensor:
    return torch.tensor([present])


def test_sequential_fusion_is_the_papers_pairwise_order() -> None:
    got = sequential_evidence(_evidence(), _mask(True, True, True))
    assert torch.allclose(got[0], ((A + B) / 2 + C) / 2)
    assert not torch.allclose(got[0], (A + B + C) / 3)  # the last view weighs 1/2, not 1/3


@pytest.mark.parametrize(
    "present,want",
    [
        ((False, True, True), (B + C) / 2),
        ((True, False, True), (A + C) / 2),
        ((True, True, False), (A + B) / 2),
        ((False, True, False), B),
        ((False, False, False), torch.zeros(3)),
    ],
)
def test_sequential_fusion_skips_missing_views(present: tuple[bool, ...], want: torch.Tensor) -> None:
    assert torch.allclose(sequential_evidence(_evidence(), _mask(*present))[0], want)


def test_mean_fusion_is_the_masked_mean_and_rows_are_independent() -> None:
    ev = _evidence().expand(3, 2, 3).clone()
    mask = torch.tensor([[True, True, True], [True, False, True]])
    got = mean_evidence(ev, mask)
    assert torch.allclose(got[0], (A + B + C) / 3) and torch.allclose(got[1], (A + C) / 2)
    seq = fuse_evidence(ev, mask, "sequential")
    assert torch.allclose(seq[0], ((A + B) / 2 + C) / 2) and torch.allclose(seq[1], (A + C) / 2)
    with pytest.raises(ValueError, match="unknown evidence fusion"):
        fuse_evidence(ev, mask, "max")


@pytest.mark.parametrize("profile,whole", [("mini", True), ("full", False)])
def test_kl_weight_reaches_one_within_the_schedule(profile: str, whole: bool) -> None:
    """The anneal is a fraction of train.max_epochs: 1/6 of 300 = the paper's 50; the mini profile
    anneals over its whole schedule (at 1/6, 2-3 epochs, the evidence collapses)."""
    p = load_params(PARAMS, [f"profile={profile}"])
    anneal = p.train.max_epochs if whole else 50
    if not whole:
        assert p.train.max_epochs == 300
    spec = p.methods["rcml_fused"].model_copy(update={"modalities": ["text"]})
    assert spec.kl_anneal_epochs(p.train.max_epochs) == anneal
    rcml = load_all()["rcml"](spec, p.train, 42, 16, torch.device("cpu"), 0, ("v", "rcml"))
    assert rcml.kl_weight(p.train.max_epochs) == 1.0
    assert rcml.kl_weight(anneal) == 1.0 and rcml.kl_weight(anneal - 1) < 1.0
    assert rcml.kl_weight(1) == pytest.approx(1 / anneal)


def test_kl_anneal_is_at_least_one_epoch() -> None:
    spec = MethodSpec(kind="rcml", modalities=["text"], kl_anneal_fraction=0.01)
    assert spec.kl_anneal_epochs(20) == 1 and spec.kl_anneal_epochs(300) == 3


@pytest.mark.parametrize("rule", ["sequential", "mean"])
def test_predict_uses_the_chosen_fusion_and_reports_vacuity(rule: str) -> None:
    spec = MethodSpec(kind="rcml", modalities=["image", "audio", "text"], fusion=rule)
    rcml = load_all()["rcml"](spec, Train(n_mels=32, frames=32), 5, 8, torch.device("cpu"), 1, ("v", "rcml"))
    g = torch.Generator().manual_seed(0)
    inputs = {
        "image": torch.randn(4, 3, 32, 32, generator=g),
        "audio": torch.randn(4, 1, 32, 32, generator=g),
        "text": torch.randn(4, 8, generator=g),
    }
    mask = torch.tensor([[True, True, True], [False, True, True], [True, False, False], [True, True, True]])
    batch = Batch(inputs, mask, torch.zeros(4, dtype=torch.long))
    rcml.module.eval()
    with torch.no_grad():
        p = rcml.predict(batch)
        logits, _ = rcml.module(inputs)
    e = torch.nn.functional.softplus(logits)
    if rule == "sequential":
        fused = torch.stack([((e[0, 0] + e[1, 0]) / 2 + e[2, 0]) / 2, (e[1, 1] + e[2, 1]) / 2, e[0, 2]])
    else:
        fused = torch.stack([e[:, 0].mean(0), (e[1, 1] + e[2, 1]) / 2, e[0, 2]])
    alpha = fused + 1.0
    assert torch.allclose(p.probs[:3], alpha / alpha.sum(-1, keepdim=True), atol=1e-5)
    assert torch.allclose(p.extras["vacuity"][:3], 5 / alpha.sum(-1), atol=1e-5)
    for i, m in enumerate(["image", "audio", "text"]):
        assert torch.allclose(p.per_modality[m].extras["vacuity"], 5 / (e[i] + 1).sum(-1), atol=1e-5)
    assert torch.all(p.epistemic >= 0) and torch.all(p.epistemic < p.extras["vacuity"])
