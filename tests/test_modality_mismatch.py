"""Train/deploy modality mismatch at the method level, on synthetic splits: any subset at test time,
self-distillation, a model trained on one modality deployed on three, WiSE-FT's endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumabench.data import Batch
from lumabench.errors import ParamsError
from lumabench.methods.losses import distillation_kl
from lumabench.methods.registry import load_all
from lumabench.modality_sets import deploy, random_subset_mask, set_name
from lumabench.params import MODALITIES, Params, Train, load_params, modality_sets
from lumabench.params import Method as MethodSpec
from lumabench.robustness import wise_ft as W
from lumabench.robustness.deployment import Deployment
from lumabench.robustness.training import TrainingRows, build, fit, restricted
from synth_tensors import NORM, D, K, modal_split

ALL = list(MODALITIES)
KINDS = ["mc_dropout", "deep_ensemble", "rcml", "eau", "mla"]
CFG = Train(n_mels=32, frames=32, batch_size=32, lr=3e-3, max_epochs=3, early_stopping_patience=3, device="cpu")
SPEC = {
    "samples": 4,
    "members": 2,
    "sigma_samples": 8,
    "eau": {"samples": 4, "latent": 16},
    "mla": {"samples": 4, "width": 32},
}
WISE = {"old": ["image", "text"], "new": ["image", "audio", "text"], "alphas": [0.0, 0.5, 1.0], "max_epochs": 2}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster than two busy ones
    yield
    torch.set_num_threads(threads)


def _method(kind: str, modalities: list[str], **spec: object):
    full = {"kind": kind, "modalities": modalities, **SPEC, **spec}
    m = load_all()[kind](MethodSpec(**full), CFG, K, D, torch.device("cpu"), 3, ("synthetic", kind))
    m.normaliser = NORM
    return m


def _batch(m, split) -> Batch:
    """Every row, shaped like a training batch ([members, B] for an ensemble)."""
    idx = torch.arange(len(split))
    return NORM.batch(split, idx.expand(m.streams, -1) if m.streams > 1 else idx, m.modalities)


@pytest.mark.parametrize("kind", KINDS)
def test_absent_modalities_are_left_out_of_every_fusion(kind: str) -> None:
    """Deployed on any set B, the prediction does not depend on what the inputs outside B hold: they are
    left out of the fusion, not fed (as zeros or anything else) into it."""
    split = modal_split(24, 0)
    m = _method(kind, ALL)
    m.module.eval()
    idx = torch.arange(len(split))
    for subset in modality_sets():
        batch = NORM.batch(deploy(split, subset), idx, ALL)
        assert batch.mask.tolist() == [[x in subset for x in ALL]] * len(split)
        other = Batch(
            {k: x if k in subset else 5.0 * torch.randn_like(x) + 3.0 for k, x in batch.inputs.items()},
            batch.mask,
            batch.labels,
        )
        with m.seeded("p"):
            zeros = m.predict(batch)
        with m.seeded("p"):
            noise = m.predict(other)
        for name in ("probs", "aleatoric", "epistemic", "total"):
            assert torch.equal(getattr(zeros, name), getattr(noise, name)), (kind, subset, name)
        assert bool(torch.isfinite(zeros.probs).all())
    nothing = NORM.batch(deploy(split, ()), idx, ALL)
    with m.seeded("p"):
        empty = m.predict(nothing)
    # no modality: the uniform prediction for every method (EAU's VIB would answer from its biases)
    assert torch.allclose(empty.probs, torch.full_like(empty.probs, 1.0 / K), atol=1e-6), kind


def test_random_subsets_are_non_empty_uniform_and_inside_the_present_modalities() -> None:
    torch.manual_seed(0)
    full = torch.ones(21000, 3, dtype=torch.bool)
    s = random_subset_mask(full)
    assert bool(s.any(1).all())
    codes = (s.long() * torch.tensor([1, 2, 4])).sum(1)
    share = torch.bincount(codes, minlength=8)[1:].double() / len(codes)
    assert torch.allclose(share, torch.full((7,), 1 / 7, dtype=torch.float64), atol=0.012), share  # sd 0.0024
    partial = torch.tensor([[True, False, True]] * 5000 + [[False, True, False]] * 5000)
    s = random_subset_mask(partial)
    assert bool(s.any(1).all()) and not bool((s & ~partial).any())
    assert set(map(tuple, s[:5000].tolist())) == {(True, False, False), (False, False, True), (True, False, True)}


def test_distillation_kl_is_stop_gradient_on_the_teacher() -> None:
    t = torch.randn(6, K, requires_grad=True)
    s = torch.randn(6, K, requires_grad=True)
    distillation_kl(t, s, 2.0).sum().backward()
    assert t.grad is None and s.grad is not None and float(s.grad.abs().sum()) > 0
    assert torch.equal(distillation_kl(s, s, 2.0), torch.zeros(6))


@pytest.mark.parametrize("kind", KINDS)
def test_distillation_is_zero_when_the_subset_is_the_full_set(kind: str) -> None:
    """Dropout on: the teacher and student forwards draw the same masks, so S = A gives exactly 0."""
    split = modal_split(32, 1)
    m = _method(kind, ALL, distill={"weight": 1.0, "temperature": 2.0})
    m.module.train()
    batch = _batch(m, split)
    torch.manual_seed(0)
    same = m.distillation(batch, subset=batch.mask)
    assert same.shape == (m.streams,) and torch.equal(same, torch.zeros(m.streams))
    only_image = batch.mask & torch.tensor([True, False, False])
    fewer = m.distillation(batch, subset=only_image)
    assert bool((fewer > 0).all()), fewer
    assert bool(torch.isfinite(m.distillation(batch)).all())  # random subsets


@pytest.mark.parametrize("kind", KINDS)
def test_self_distillation_trains_every_fused_kind(kind: str) -> None:
    """`distill` is an option of the one training loop: every fused kind fits with it (MLA with one
    more optimiser step per batch) and predicts finite numbers."""
    train, val, test = modal_split(64, 2), modal_split(32, 3), modal_split(32, 4)
    m = _method(kind, ALL, distill={"weight": 1.0, "temperature": 1.0})
    m.fit(train, val, NORM)
    assert bool(torch.isfinite(m.predict_split(test, "test").probs).all())
    if kind == "mla":
        steps = list(m.substeps(_batch(m, train), 1, 0.0))
        assert len(steps) == len(ALL) + 1 and steps[-1].params is None


# ---------------------------------------------------------------- the stage's models, on synthetic rows
def _params() -> Params:
    methods = {k: {"kind": k, "modalities": ALL, **SPEC} for k in KINDS}
    return Params.model_validate(
        {
            "run": {"variants": ["clean"], "methods": KINDS, "seeds": [3]},
            "variants": {"definitions": {"clean": {"family": "clean"}}},
            "train": CFG.model_dump(),
            "methods": methods,
            "robustness": {"wise_ft": WISE},
        }
    )


@pytest.fixture(scope="module")
def rows() -> TrainingRows:
    return TrainingRows(modal_split(96, 5), modal_split(32, 6), NORM, D)


def test_a_model_trained_on_image_deployed_on_all_three_uses_its_image(rows: TrainingRows) -> None:
    params = _params()
    model = build(restricted(params, "mc_dropout", ["image"]), "mc_dropout", rows, torch.device("cpu"), 3)
    assert model.modalities == ["image"]  # no encoder it would never train
    fit(model, rows)
    test = modal_split(80, 7)
    dep = Deployment(model, test, "image-only")
    everything, image = dep.cell(ALL), dep.cell(["image"])
    assert everything is not None and everything["n"] == len(test)  # every row scored
    assert everything == image  # audio and text: nothing it learned to use
    assert torch.equal(dep.predict(ALL)[1].probs, dep.predict(["image"])[1].probs)
    assert everything["acc"] > 0.6, everything  # chance 0.25: it does use the image
    assert dep.cell(["audio", "text"]) is None  # no input at all: an empty cell, not a score
    # a row whose image is missing at deployment is not scored (the train stage's rule)
    test.present[:10, 0] = False
    assert Deployment(model, test, "x").cell(ALL)["n"] == len(test) - 10


@pytest.mark.parametrize("kind", KINDS)
def test_wise_ft_endpoints_are_the_two_models_byte_for_byte(rows: TrainingRows, kind: str) -> None:
    params = _params()
    theta0 = build(restricted(params, kind, ["image", "text"]), kind, rows, torch.device("cpu"), 3)
    fit(theta0, rows)
    tuned, ft = W.fine_tune(params, kind, 3, rows, theta0)
    assert ft.report.epochs <= 2 and set(tuned.modalities) == set(ALL)
    test = modal_split(40, 8)
    for alpha, endpoint in ((0.0, theta0), (1.0, tuned)):
        model = W.at_alpha(params, kind, 3, rows, ft, alpha)
        assert model.modalities == endpoint.modalities
        weights, own = W.state(model), W.state(endpoint)
        assert weights.keys() == own.keys() and all(torch.equal(weights[k], own[k]) for k in own)
        for deployed in (["image", "text"], ALL):
            a = Deployment(model, test, "alpha").predict(deployed)
            b = Deployment(endpoint, test, "endpoint").predict(deployed)
            assert a is not None and b is not None
            for name in ("probs", "aleatoric", "epistemic", "total"):
                assert torch.equal(getattr(a[1], name), getattr(b[1], name)), (kind, alpha, deployed, name)
    middle = W.at_alpha(params, kind, 3, rows, ft, 0.5)
    assert set(middle.modalities) == set(ALL)  # the new encoder carries trained weight for any α > 0
    w0, w1, wm = ft.start, ft.theta1, W.state(middle)
    assert all(torch.allclose(wm[k], 0.5 * w0[k] + 0.5 * w1[k], atol=1e-6) for k in wm)
    assert not all(torch.equal(wm[k], w1[k]) for k in wm)
    # the new encoder of θ₀ in the new weight space is the fine-tuning's initialisation, not θ₀'s
    assert set(w0) == set(w1) and set(ft.old_keys) < set(w0)
    assert set_name(ft.new) == set_name(ALL)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("robustness.methods=[mcd_text]", "robustness.methods.0: 'mcd_text' must be a fused method of all three"),
        ("robustness.train_sets=[[image]]", "must hold the full set"),
        ("robustness.test_sets=[[image, audio, text]]", "must hold every training set"),
        ("robustness.train_sets=[[image, audio, text], [text, image], [image, text]]", "lists a set twice"),
        ("robustness.wise_ft.new=[image]", "new must hold every modality of old and at least one more"),
        ("robustness.wise_ft.alphas=[0.0, 0.5]", "alphas must increase strictly from 0 to 1"),
        ("robustness.compare=[mcd_fused]", "'mcd_fused' is listed twice"),
        ("methods.mcd_text.distill={weight: 1.0, temperature: 1.0}", "distill needs two modalities or more"),
    ],
)
def test_bad_robustness_settings_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ParamsError) as info:
        load_params(Path(__file__).resolve().parents[1] / "params.yaml", [override])
    assert message in str(info.value) and "\n" not in str(info.value)
