"""MLA (Zhang et al., CVPR 2024): alternating unimodal steps, head gradient modification, dynamic fusion."""

from __future__ import annotations

import logging
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from lumabench import data as ldata
from lumabench import train
from lumabench.data import Batch
from lumabench.methods.mla import MLA, fuse_logits, fusion_weights, owm_projector
from lumabench.methods.registry import load_all
from lumabench.params import MODALITIES, Params, Train, parse_overrides, resolve_raw
from lumabench.params import Method as MethodSpec
from lumabench.paths import Paths
from synth_tensors import NORM, D, K, modal_split
from synth_variant import ID_CLASSES, quick_training, write_variant

ALL = ["image", "audio", "text"]
CFG = Train(n_mels=32, frames=32, batch_size=16, lr=3e-3, max_epochs=4, early_stopping_patience=4)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is faster than two busy ones (and than contending with other jobs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_split = modal_split


def _mla(cfg: Train = CFG, modalities: list[str] = ALL, **mla: object) -> MLA:
    spec = MethodSpec(kind="mla", modalities=modalities, mla={"width": 32, "samples": 4, **mla})
    method = load_all()["mla"](spec, cfg, K, D, torch.device("cpu"), 3, ("synthetic", "mla"))
    assert isinstance(method, MLA)
    return method


def _record_substeps(method: MLA, batches: int = 3, batch_size: int = 16) -> list[dict]:
    """Run `batches` real training steps (`Method.train_step`); snapshot the module at every sub-step.

    The optimiser's `zero_grad` opens each sub-step, after the previous one's step and its post-step
    work, so consecutive snapshots bracket exactly one sub-step. Returns the last batch's snapshots
    (state, latest mean features) plus the final state.
    """
    split = _split(64, 0)
    method.normaliser = NORM
    opt = method.make_optimizer()
    snaps: list[dict] = []
    zero_grad = opt.zero_grad

    def snapshot() -> dict:
        state = {k: v.detach().clone() for k, v in method.module.state_dict().items()}
        return {"state": state, "means": {m: h.clone() for m, h in method._means.items()}}

    def recording_zero_grad(*a: object, **k: object) -> None:
        snaps.append(snapshot())
        zero_grad(*a, **k)  # type: ignore[arg-type]

    opt.zero_grad = recording_zero_grad  # type: ignore[method-assign]
    step = method.train_step(opt, split, NORM)
    method.module.train()
    with method.seeded("test"):
        for b in range(batches):
            snaps.clear()
            step(torch.arange(b * batch_size, (b + 1) * batch_size), 1)
    return [*snaps, snapshot()]


def _alignment(snaps: list[dict]) -> list[float]:
    """|ΔW h̄| / (|ΔW| |h̄|) of each sub-step's head update against the other modalities' mean features."""
    out = []
    for j, m in enumerate(ALL):
        before, after = snaps[j], snaps[j + 1]
        dw = after["state"]["head.weight"] - before["state"]["head.weight"]
        for other, h in before["means"].items():
            if other != m:
                out.append(float((dw @ h).norm() / (dw.norm() * h.norm())))
    return out


# ---------------------------------------------------------------- HGM
def test_owm_projector_is_the_owm_recursion() -> None:
    g = torch.Generator().manual_seed(0)
    h1, h2 = torch.randn(6, generator=g), torch.randn(6, generator=g)
    alpha = 0.05
    p1 = owm_projector([h1], alpha)
    # one feature: P = I − h hᵀ / (α + |h|²), so P h = α / (α + |h|²) h (the released code's element-wise
    # division by the outer product gives another matrix)
    assert torch.allclose(p1, torch.eye(6) - torch.outer(h1, h1) / (alpha + h1 @ h1), atol=1e-6)
    assert torch.allclose(p1 @ h1, alpha / (alpha + h1 @ h1) * h1, atol=1e-6)
    p2 = owm_projector([h1, h2], alpha)
    assert torch.allclose(p2, p2.t(), atol=1e-6)
    # the recursion is recursive least squares: P = (I + Σ h hᵀ / α)⁻¹ (Zeng et al. 2019)
    inv = torch.linalg.inv(
        torch.eye(6, dtype=torch.float64) + (torch.outer(h1, h1) + torch.outer(h2, h2)).double() / alpha
    )
    assert torch.allclose(p2.double(), inv, atol=1e-5)
    assert (p2 @ h1).norm() < 0.05 * h1.norm() and (p2 @ h2).norm() < 0.05 * h2.norm()


def test_alpha_decays_from_start_to_end_within_an_epoch() -> None:
    method = _mla()
    assert method.alpha(0.0) == pytest.approx(0.1)
    assert method.alpha(0.5) == pytest.approx(0.1 * 0.1**0.5)
    assert method.alpha(0.999) == pytest.approx(0.01, rel=0.01)
    with pytest.raises(ValueError, match="hgm_alpha_end"):
        MethodSpec(kind="mla", modalities=ALL, mla={"hgm_alpha_start": 0.01, "hgm_alpha_end": 0.1})


def test_progress_counts_batches_and_restarts_every_epoch() -> None:
    method = _mla()
    seen: list[tuple[int, float]] = []
    substeps = method.substeps

    def recording(batch: Batch, epoch: int, progress: float):
        seen.append((epoch, progress))
        return substeps(batch, epoch, progress)

    method.substeps = recording  # type: ignore[method-assign]
    method.fit(_split(64, 0), _split(16, 1), NORM)  # 64 rows / batch 16 = 4 batches per epoch
    assert seen[:8] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (2, 0.0), (2, 0.25), (2, 0.5), (2, 0.75)]


@pytest.mark.parametrize(
    ("hgm", "target", "optimizer", "projected"),
    [
        (True, "update", "adam", True),  # default: the update is projected, exact with Adam
        (False, "update", "adam", False),  # ablation: no HGM
        (True, "gradient", "sgd", True),  # the paper's gradient form is exact for plain SGD
        (True, "gradient", "adam", False),  # ... but Adam's per-element scaling undoes it
    ],
)
def test_head_update_leaves_the_other_modalities_mean_features_alone(
    hgm: bool, target: str, optimizer: str, projected: bool
) -> None:
    method = _mla(
        hgm=hgm, hgm_target=target, optimizer=optimizer, sgd_momentum=0.0, sgd_weight_decay=0.0,
        hgm_alpha_start=1e-4, hgm_alpha_end=1e-4,
    )  # fmt: skip
    ratios = _alignment(_record_substeps(method))
    assert len(ratios) == 6  # each of the 3 sub-steps against the 2 other modalities
    # measured: update/Adam 1e-6–2e-5, gradient/SGD 3e-6–4e-5; without HGM 0.03–0.42, gradient/Adam 0.13–0.30
    if projected:
        assert max(ratios) < 0.01, ratios
    else:
        assert max(ratios) > 0.1 and float(np.mean(ratios)) > 0.05, ratios


def test_projected_update_equals_the_papers_projected_gradient_under_plain_sgd() -> None:
    runs = {}
    for target in ("update", "gradient"):
        method = _mla(hgm_target=target, optimizer="sgd", sgd_momentum=0.0, sgd_weight_decay=0.0)
        runs[target] = _record_substeps(method)[-1]["state"]
    for k, v in runs["update"].items():
        assert torch.allclose(v, runs["gradient"][k], atol=1e-6), k


# ---------------------------------------------------------------- alternating steps
def test_each_substep_moves_only_its_encoder_and_the_head() -> None:
    snaps = _record_substeps(_mla())
    assert len(snaps) == 4  # three sub-steps: image, audio, text
    for j, active in enumerate(ALL):
        before, after = snaps[j]["state"], snaps[j + 1]["state"]
        for k in before:
            enc = k.split(".")[1] if k.startswith("encoders.") else None
            same = torch.equal(before[k], after[k])
            if enc is not None and enc != active:
                assert same, f"{active} step changed {k}"
        assert not torch.equal(before["head.weight"], after["head.weight"])
        moved = [k for k in before if k.startswith(f"encoders.{active}.") and not torch.equal(before[k], after[k])]
        assert moved, f"{active} step left its own encoder unchanged"


def test_modality_missing_from_every_row_takes_no_step() -> None:
    method = _mla()
    split = _split(16, 0)
    split.present[:, MODALITIES.index("audio")] = False
    method.normaliser = NORM
    opt = method.make_optimizer()
    audio = {k: v.clone() for k, v in method.module.state_dict().items() if k.startswith("encoders.audio.")}
    calls = 0
    step_fn = opt.step

    def counting_step(*a: object, **k: object) -> None:
        nonlocal calls
        calls += 1
        step_fn(*a, **k)  # type: ignore[arg-type]

    opt.step = counting_step  # type: ignore[method-assign]
    with method.seeded("test"):
        method.train_step(opt, split, NORM)(torch.arange(16), 1)
    assert calls == 2  # image and text only
    assert all(torch.equal(v, method.module.state_dict()[k]) for k, v in audio.items())


def test_cuda_graphs_fall_back_to_eager_steps(caplog: pytest.LogCaptureFixture) -> None:
    method = _mla(CFG.model_copy(update={"cuda_graphs": True}))
    method.device = torch.device("cuda")  # only the choice is checked; nothing runs on a GPU
    with caplog.at_level(logging.WARNING):
        step = method.train_step(torch.optim.SGD(method.module.parameters(), lr=0.1), _split(16, 0), NORM)
    assert method.graphed is None and step.__name__ == "eager"
    assert "cuda_graphs is not supported" in caplog.text


def test_training_is_deterministic_per_seed() -> None:
    probs = []
    for _ in range(2):
        method = _mla(CFG.model_copy(update={"max_epochs": 2}))
        method.fit(_split(64, 0), _split(16, 1), NORM)
        probs.append(method.predict_split(_split(8, 2), "test").probs)
    assert torch.equal(probs[0], probs[1])


# ---------------------------------------------------------------- dynamic fusion
def test_fusion_weights_per_sample_from_entropy() -> None:
    c = 5
    confident = torch.tensor([6.0, 0, 0, 0, 0])
    vague = torch.tensor([1.0, 0.5, 0, 0, 0])
    uniform = torch.zeros(c)
    # sample 0: image confident, audio vague, text uniform; sample 1: the other way round; sample 2: no audio
    logits = torch.stack(
        [
            torch.stack([confident, uniform, confident]),  # image
            torch.stack([vague, vague, vague]),  # audio
            torch.stack([uniform, confident, vague]),  # text
        ]
    )  # [V=3, B=3, C]
    mask = torch.tensor([[True, True, True], [True, True, True], [True, False, True]])
    w = fusion_weights(logits, mask, "dynamic")
    assert torch.allclose(w.sum(0), torch.ones(3), atol=1e-6)
    ent = -(torch.softmax(logits, -1) * torch.log_softmax(logits, -1)).sum(-1)  # [V, B]
    expected = torch.softmax(-ent[:, 0], 0)
    assert torch.allclose(w[:, 0], expected, atol=1e-6)  # w = softmax(−e) over the present modalities
    assert w[0, 0] > w[1, 0] > w[2, 0]  # higher entropy, lower weight
    assert w[2, 1] > w[1, 1] > w[0, 1]  # per sample: the same modality ranks differently in another row
    assert w[1, 2] == 0.0 and torch.allclose(w[[0, 2], 2], torch.softmax(-ent[[0, 2], 2], 0), atol=1e-6)
    fixed = fusion_weights(logits, mask, "fixed")
    assert torch.allclose(fixed[:, 0], torch.full((3,), 1 / 3)) and torch.allclose(
        fixed[:, 2], torch.tensor([0.5, 0, 0.5])
    )
    fused = fuse_logits(logits, w)
    assert torch.allclose(fused[0], (w[:, 0:1] * logits[:, 0]).sum(0), atol=1e-6)
    # nothing present: zero weights, zero logits (the uniform predictive)
    none = fusion_weights(logits, torch.zeros(3, 3, dtype=torch.bool), "dynamic")
    assert torch.equal(none, torch.zeros(3, 3)) and torch.equal(fuse_logits(logits, none), torch.zeros(3, c))


def test_prediction_weights_decomposition_and_per_modality() -> None:
    method = _mla()
    method.normaliser = NORM
    split = _split(12, 3)
    split.present[0, 0] = False  # row 0 has no image
    split.present[1, 1:] = False  # row 1 has only an image
    pred = method.predict_split(split, "test")
    w = torch.stack([pred.extras[f"weight_{m}"] for m in ALL])  # [V, B]
    assert set(pred.extras) == {"weight_image", "weight_audio", "weight_text"}
    assert math.isnan(w[0, 0]) and torch.isnan(w[1:, 1]).all() and w[0, 1] == pytest.approx(1.0)
    assert torch.allclose(torch.nan_to_num(w).sum(0), torch.ones(12), atol=1e-5)
    assert torch.allclose(pred.total, pred.aleatoric + pred.epistemic, atol=1e-5)
    assert (pred.epistemic >= 0).all() and pred.epistemic.max() > 0  # MC dropout: the passes disagree
    assert set(pred.per_modality) == set(ALL)
    assert torch.allclose(pred.probs.sum(1), torch.ones(12), atol=1e-5)
    uni = _mla(modalities=["text"])
    uni.normaliser = NORM
    one = uni.predict_split(split, "test")
    text = split.present[:, 2]
    assert one.per_modality == {} and torch.isnan(one.extras["weight_text"][~text]).all()
    assert torch.equal(one.extras["weight_text"][text], torch.ones(int(text.sum())))


# ---------------------------------------------------------------- the train stage end to end
FAST = quick_training(5)
TREE = {
    "run": {"variants": ["clean", "missing"], "methods": ["mla_fused"], "seeds": [42]},
    "variants": {"definitions": {"clean": {"family": "clean"}, "missing": {"family": "missing"}}},
    "methods": {"mla_fused": {"kind": "mla", "modalities": ALL, "dropout": 0.3, "mla": {"samples": 8, "width": 64}}},
}
SIZES = {"train_per_class": 20, "test_per_class": 6, "ood_per_class": 6}


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("mla")
    write_variant(root, "clean", **SIZES)
    write_variant(root, "missing", **SIZES, missing={"image": 0.3, "audio": 0.3, "text": 0.3}, missing_train=True)
    return Paths(root, "mini")


@pytest.mark.parametrize("variant", ["clean", "missing"])
def test_train_stage_learns_and_writes_weights(stage: Paths, variant: str) -> None:
    params = Params.model_validate(resolve_raw(TREE, parse_overrides(FAST)))
    m = train.run(params, stage, variant, "mla_fused")
    n_test = 6 * len(ID_CLASSES)
    assert m["kind"] == "mla" and m["test"]["n"] == n_test
    assert m["test"]["acc"] >= 0.7, m["test"]  # chance is 1/5
    assert set(m["per_modality"]) == set(MODALITIES) and all(b["n"] > 0 for b in m["per_modality"].values())
    assert {"weight_image", "weight_audio", "weight_text"} <= set(m["test"])
    assert m["test"]["total"] == pytest.approx(m["test"]["aleatoric"] + m["test"]["epistemic"], abs=2e-6)
    table = pq.read_table(stage.predictions(variant, "mla_fused", 42)).to_pandas()
    w = table[["weight_image", "weight_audio", "weight_text"]].to_numpy(dtype=float)
    assert np.allclose(np.nansum(w, 1), 1.0, atol=1e-5)
    test = ldata.load_split(stage, variant, "test", params.train)
    present = dict(zip(test.sample_id, test.present.numpy(), strict=True))
    rows = table["split"] == "test"
    expected = np.stack([present[i] for i in table.loc[rows, "sample_id"]])
    assert np.array_equal(~np.isnan(w[rows.to_numpy()]), expected)  # null exactly where a modality is missing
    assert (variant == "missing") == (not expected.all())
