"""EAU (Gao et al., CVPR 2024): its formulas by hand, masking of missing modalities, and training end to end."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from lumabench import data as ldata
from lumabench import train
from lumabench.data import Batch, Normaliser
from lumabench.methods.eau import fusion_weights, gaussian_kl, nt_xent, prior_kl
from lumabench.methods.registry import load_all
from lumabench.params import MODALITIES, Params, Train, parse_overrides, resolve_raw
from lumabench.params import Method as MethodSpec
from lumabench.paths import Paths
from lumabench.schemas import PREDICTIONS
from synth_tensors import NORM, D, K, modal_split
from synth_variant import ID_CLASSES, quick_training, write_variant

MODS = list(MODALITIES)


# ---------------------------------------------------------------- closed forms
def _kl_1d(m1: float, v1: float, m2: float, v2: float) -> float:
    """KL(N(m1, v1) ‖ N(m2, v2)) for variances v, written out."""
    return 0.5 * (math.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1.0)


def test_gaussian_kl_matches_the_closed_form_in_1d() -> None:
    t = torch.tensor
    # N(1, 2) ‖ N(-1, 0.5): ½ (ln 0.25 + (2 + 4) / 0.5 − 1) = ½ (11 − ln 4)
    forward = gaussian_kl(t([[1.0]]), t([[math.log(2.0)]]), t([[-1.0]]), t([[math.log(0.5)]]))
    assert forward.item() == pytest.approx(0.5 * (11.0 - math.log(4.0)), rel=1e-6)
    # the other direction: ½ (ln 4 + (0.5 + 4) / 2 − 1); KL is not symmetric
    backward = gaussian_kl(t([[-1.0]]), t([[math.log(0.5)]]), t([[1.0]]), t([[math.log(2.0)]]))
    assert backward.item() == pytest.approx(0.5 * (math.log(4.0) + 2.25 - 1.0), rel=1e-6)
    assert forward.item() != pytest.approx(backward.item())
    same = gaussian_kl(t([[0.3]]), t([[0.7]]), t([[0.3]]), t([[0.7]]))
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_gaussian_kl_of_diagonal_gaussians_sums_the_dimensions() -> None:
    m1, v1 = [0.5, -2.0, 0.0], [1.5, 0.2, 3.0]
    m2, v2 = [0.0, 1.0, -0.5], [1.0, 2.0, 0.1]
    expected = sum(_kl_1d(*a) for a in zip(m1, v1, m2, v2, strict=True))
    got = gaussian_kl(torch.tensor(m1), torch.tensor(v1).log(), torch.tensor(m2), torch.tensor(v2).log())
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # the prior term is the same formula against N(0, I): ½ Σ (σ² + μ² − 1 − ln σ²)
    prior = sum(0.5 * (v + m * m - 1.0 - math.log(v)) for m, v in zip(m1, v1, strict=True))
    assert prior_kl(torch.tensor(m1), torch.tensor(v1).log()).item() == pytest.approx(prior, rel=1e-6)
    assert prior_kl(torch.zeros(4), torch.zeros(4)).item() == 0.0


def test_nt_xent_on_a_hand_made_batch() -> None:
    r3 = math.sqrt(3.0)
    a1, a2 = torch.tensor([1.0, 0.0]), torch.tensor([0.5, r3 / 2])  # row 0's two views, cosine ½
    b1, b2 = torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 0.0])  # row 1's two views, cosine 0
    # cosines: a1·b1 = 0, a1·b2 = −1, a2·b1 = √3/2, a2·b2 = −½; τ = ½ doubles them.
    # anchor a1: −log(e¹ / (e¹ + e⁰ + e⁻²)) = log(1 + e⁻¹ + e⁻³); a2: log(1 + e^(√3 − 1) + e⁻²)
    # anchor b1: −log(e⁰ / (e⁰ + e⁰ + e^√3)) = log(2 + e^√3);      b2: log(1 + e⁻² + e⁻¹)
    row0 = 0.5 * (math.log(1 + math.exp(-1) + math.exp(-3)) + math.log(1 + math.exp(r3 - 1) + math.exp(-2)))
    row1 = 0.5 * (math.log(2 + math.exp(r3)) + math.log(1 + math.exp(-2) + math.exp(-1)))
    z1, z2 = torch.stack([a1, b1]), torch.stack([a2, b2])
    got = nt_xent(z1, z2, torch.tensor([True, True]), 0.5)
    assert got.tolist() == pytest.approx([row0, row1], rel=1e-6)
    # cosine similarity: the length of a view does not matter
    assert nt_xent(3.0 * z1, 0.5 * z2, torch.tensor([True, True]), 0.5).tolist() == pytest.approx([row0, row1])
    # an absent row is neither an anchor nor a negative: appending one changes nothing
    z1x = torch.cat([z1, torch.tensor([[0.7, 0.7]])]).requires_grad_()
    z2x = torch.cat([z2, torch.tensor([[-0.7, 0.7]])])
    masked = nt_xent(z1x, z2x, torch.tensor([True, True, False]), 0.5)
    assert masked.tolist() == pytest.approx([row0, row1, 0.0], rel=1e-6)
    masked.sum().backward()
    assert torch.isfinite(z1x.grad).all() and z1x.grad[2].abs().sum() == 0
    # one present row has no negatives: −log(1) = 0
    assert nt_xent(z1, z2, torch.tensor([True, False]), 0.5).tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_fusion_weights_favour_low_sigma_and_skip_missing_modalities() -> None:
    # per dimension: image σ² = 1, audio σ² = 4, text σ² = 0.01 (most certain) but text is missing in row 0
    logvar = torch.log(torch.tensor([1.0, 4.0, 0.01])).view(3, 1, 1).expand(3, 2, 5).clone()
    logvar[1, :, 0] = math.log(0.25)  # dimension 0: audio is the more certain of image/audio
    mask = torch.tensor([[True, True, False], [True, True, True]])
    for rule in ("paper", "code"):
        w = fusion_weights(logvar, mask, rule)
        assert torch.allclose(w.sum(0), torch.ones(2, 5), atol=1e-6)
        assert (w[2, 0] == 0).all()  # the missing modality weighs nothing
        assert (w[0, 0, 1:] > w[1, 0, 1:]).all() and w[1, 0, 0] > w[0, 0, 0]  # lower σ, more weight
        assert (w[2, 1] > w[0, 1]).all()  # present and the most certain: the largest weight
    # paper: softmax(1/σ) over σ = (1, 2): 1 / (1 + e^(-1/2)); code: softmax(−σ²) over (1, 4): 1 / (1 + e^(-3))
    assert fusion_weights(logvar, mask, "paper")[0, 0, 1].item() == pytest.approx(1 / (1 + math.exp(-0.5)))
    assert fusion_weights(logvar, mask, "code")[0, 0, 1].item() == pytest.approx(1 / (1 + math.exp(-3.0)))
    # nothing present: all weights zero (the fused embedding is 0), no NaN
    none = fusion_weights(logvar, torch.zeros(2, 3, dtype=torch.bool), "paper")
    assert torch.equal(none, torch.zeros_like(none))


# ---------------------------------------------------------------- the method on random tensors
C = 42


def _method(modalities: list[str] = MODS, seed: int = 7, **eau: object):
    spec = MethodSpec(kind="eau", modalities=modalities, eau={"latent": 16, "samples": 8, **eau})
    return load_all()["eau"](spec, Train(n_mels=32, frames=32), C, 16, torch.device("cpu"), seed, ("v", "eau"))


def _batch(b: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "image": torch.randn(b, 3, 32, 32, generator=g),
        "audio": torch.randn(b, 1, 32, 32, generator=g),
        "text": torch.randn(b, 16, generator=g),
    }
    mask = torch.ones(b, 3, dtype=torch.bool)
    mask[0, 1] = mask[2, 0] = mask[2, 1] = mask[4, 2] = False
    return Batch(inputs, mask, torch.randint(0, 5, (b,), generator=g))


def test_predictions_and_sigma2_extras_nan_exactly_where_a_modality_is_missing() -> None:
    m = _method()
    m.module.eval()
    b = _batch()
    with torch.no_grad(), m.seeded("p"):
        p = m.predict(b)
        _, logvar = m.module.embed(b.inputs)
    assert set(p.extras) == {"sigma2_image", "sigma2_audio", "sigma2_text"} and p.per_modality == {}
    for i, mod in enumerate(MODS):
        x = p.extras[f"sigma2_{mod}"]
        assert torch.equal(torch.isnan(x), ~b.mask[:, i])
        assert torch.allclose(x[b.mask[:, i]], logvar[i].exp().mean(-1)[b.mask[:, i]])
    assert torch.allclose(p.probs.sum(1), torch.ones(6), atol=1e-5)
    assert torch.allclose(p.total, p.aleatoric + p.epistemic, atol=1e-5) and (p.epistemic > 0).all()
    # a missing modality's input is never looked at: other values there give the same prediction
    b2 = Batch({k: v.clone() for k, v in b.inputs.items()}, b.mask, b.labels)
    b2.inputs["audio"][0] += 5.0
    b2.inputs["image"][2] -= 3.0
    with torch.no_grad(), m.seeded("p"):
        q = m.predict(b2)
    assert torch.equal(p.probs, q.probs)
    # seeded per purpose: predicting a split twice gives the same numbers
    m.normaliser = Normaliser((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 0.0, 1.0)
    st = _split(10, 5, text_dim=16)
    first, again = m.predict_split(st, "test"), m.predict_split(st, "test")
    assert torch.equal(first.probs, again.probs) and torch.equal(first.epistemic, again.epistemic)
    # a unimodal model reports only its own modality
    u = _method(["text"])
    u.module.eval()
    with torch.no_grad():
        one = u.predict(Batch({"text": b.inputs["text"]}, b.mask[:, 2:], b.labels))
    assert set(one.extras) == {"sigma2_text"}


def test_loss_terms_skip_missing_modalities_and_combine_with_the_spec_weights() -> None:
    m = _method(align_weight=0.5, prior_weight=0.25, contrastive_weight=0.125, vib_weight=2.0, ib_weight=3.0)
    b = _batch()
    with m.seeded("l"):
        t = m.loss_terms(b)
    assert all(v.shape == (6,) and torch.isfinite(v).all() for v in t.values())
    assert t["align_kl"][2].item() == 0.0 and t["align_kl"][0].item() > 0.0  # one modality: nothing to align
    with m.seeded("l"):
        rows = m._rows(b)
    weighted = t["ce"] + 2.0 * t["vib_kl"] + 3.0 * t["ib_ce"] + 0.25 * t["prior_kl"]
    weighted = weighted + 0.5 * t["align_kl"] + 0.125 * t["contrastive"]
    assert torch.allclose(rows, weighted)
    # inputs of absent modalities do not enter any term
    b2 = Batch({k: v.clone() for k, v in b.inputs.items()}, b.mask, b.labels)
    b2.inputs["text"][4] *= -7.0
    with m.seeded("l"):
        t2 = m.loss_terms(b2)
    assert all(torch.equal(t[k], t2[k]) for k in t)
    # validation: the sum over rows, the same under the same seeded context
    m.module.eval()
    with torch.no_grad(), m.seeded("v"):
        v1 = m.val_loss(b)
    with torch.no_grad(), m.seeded("v"):
        v2 = m.val_loss(b)
    assert v1.shape == (1,) and torch.equal(v1, v2)
    loss = m.loss(b, 1)
    loss.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.module.parameters() if p.grad is not None)


# ---------------------------------------------------------------- σ² follows input noise


_split = modal_split


def test_image_sigma2_rises_when_test_images_are_noised() -> None:
    cfg = Train(n_mels=32, frames=32, batch_size=32, lr=3e-3, max_epochs=6, early_stopping_patience=6)
    spec = MethodSpec(kind="eau", modalities=MODS, eau={"samples": 20})
    m = load_all()["eau"](spec, cfg, K, D, torch.device("cpu"), 3, ("synthetic", "eau"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster than two busy ones
    try:
        m.fit(_split(128, 0), _split(48, 1), NORM)
        clean = _split(96, 2)
        noisy = _split(96, 2)
        g = torch.Generator().manual_seed(9)
        noisy.image = (noisy.image.float() + 255.0 * torch.randn(noisy.image.shape, generator=g)).clamp(0, 255)
        noisy.image = noisy.image.round().to(torch.uint8)
        pc, pn = m.predict_split(clean, "test"), m.predict_split(noisy, "test")
    finally:
        torch.set_num_threads(threads)
    assert (pc.probs.argmax(1) == clean.class_id).float().mean().item() > 0.9
    ratio = {k: pn.extras[k].mean().item() / pc.extras[k].mean().item() for k in pc.extras}
    # measured: image 1.078, audio and text exactly 1 (their encoders never see the image)
    assert ratio["sigma2_image"] > 1.04, ratio
    assert ratio["sigma2_audio"] == pytest.approx(1.0, abs=1e-6)
    assert ratio["sigma2_text"] == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------- stage 7 end to end
TREE = {
    "run": {"variants": ["missing"], "methods": ["eau_fused"], "seeds": [42]},
    "variants": {"definitions": {"missing": {"family": "missing"}}},
    "methods": {"eau_fused": {"kind": "eau", "modalities": MODS, "eau": {"samples": 20}}},
}
FAST = quick_training(6, batch_size=16)


def test_train_stage_learns_and_writes_sigma2(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("eau")
    write_variant(root, "missing", train_per_class=20, test_per_class=6, ood_per_class=6,
                  missing={"image": 0.3, "audio": 0.3, "text": 0.3})  # fmt: skip
    paths = Paths(root, "mini")
    params = Params.model_validate(resolve_raw(TREE, parse_overrides(FAST)))
    m = train.run(params, paths, "missing", "eau_fused")
    t, o = m["test"], m["ood"]
    assert t["n"] == 6 * len(ID_CLASSES) and t["acc"] >= 0.7, t  # chance 1/5
    assert {f"sigma2_{x}" for x in MODS} <= set(t) and all(t[f"sigma2_{x}"] > 0 for x in MODS)
    assert {f"auroc_sigma2_{x}" for x in MODS} <= set(o)
    assert t["total"] == pytest.approx(t["aleatoric"] + t["epistemic"], abs=2e-6)
    assert m["per_modality"] == {}
    table = pq.read_table(paths.predictions("missing", "eau_fused", 42))
    assert table.schema.names == PREDICTIONS.names
    test = ldata.load_split(paths, "missing", "test", params.train)
    rows = table.to_pandas().set_index("sample_id").loc[test.sample_id]
    for i, x in enumerate(MODS):  # null exactly where the modality is missing
        assert np.array_equal(rows[f"sigma2_{x}"].isna().to_numpy(), ~test.present[:, i].numpy())
    assert rows["vacuity"].isna().all()
