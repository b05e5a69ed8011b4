"""`Method.fit` on tiny synthetic splits: divergence stops training; fused sampling heads are trained each."""

from __future__ import annotations

import pytest
import torch

from lumabench.errors import LumabenchError, TrainingError
from lumabench.methods.registry import load_all
from lumabench.params import Method as MethodSpec
from lumabench.params import Train
from synth_tensors import NORM, D, K, modal_split

CFG = Train(n_mels=32, frames=32, batch_size=32, lr=3e-3, max_epochs=6, early_stopping_patience=6)


_split = modal_split


def _method(kind: str, modalities: list[str], cfg: Train = CFG, **spec: object):
    full = {"kind": kind, "modalities": modalities, "samples": 4, "members": 2, "sigma_samples": 8, **spec}
    return load_all()[kind](MethodSpec(**full), cfg, K, D, torch.device("cpu"), 3, ("synthetic", kind))


@pytest.mark.parametrize("where", ["train", "val"])
def test_nan_inputs_stop_training_with_a_clear_error(where: str) -> None:
    train, val = _split(64, 0), _split(32, 1)
    (train if where == "train" else val).text[5, 0] = float("nan")
    method = _method("mc_dropout", ["text"])
    with pytest.raises(TrainingError) as info:
        method.fit(train, val, NORM)
    msg = str(info.value)
    stream = "training" if where == "train" else "validation"
    assert f"non-finite {stream} loss" in msg and "at epoch 1" in msg
    assert "lower train.lr" in msg and "NaN" in msg and isinstance(info.value, LumabenchError)


def test_diverging_ensemble_member_is_named() -> None:
    train, val = _split(64, 0), _split(32, 1)
    train.text[3] = float("inf")
    method = _method("deep_ensemble", ["text"])
    with pytest.raises(TrainingError, match=r"at epoch 1 \(ensemble member 0, 1\)"):
        method.fit(train, val, NORM)


@pytest.mark.parametrize("kind", ["mc_dropout", "deep_ensemble"])
def test_fused_heads_are_trained_on_their_own(kind: str) -> None:
    train, val, test = _split(128, 0), _split(48, 1), _split(96, 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster than two busy ones
    try:
        method = _method(kind, ["image", "audio", "text"], head_loss_weight=1.0)
        method.fit(train, val, NORM)
        pred = method.predict_split(test, "test")
    finally:
        torch.set_num_threads(threads)
    acc = {m: (p.probs.argmax(1) == test.class_id).float().mean().item() for m, p in pred.per_modality.items()}
    assert set(acc) == {"image", "audio", "text"}
    # chance 0.25; measured image 1.0, audio 1.0, text 0.75 (MCD) and 0.77 (DE); the same heads trained
    # with head_loss_weight 0 reached audio 0.97 / 0.54 and text 0.52 / 0.72
    assert all(a > 0.6 for a in acc.values()), acc
    assert (pred.probs.argmax(1) == test.class_id).float().mean().item() > 0.8


@pytest.mark.parametrize("kind", ["mc_dropout", "deep_ensemble"])
def test_without_head_loss_no_per_modality_predictions(kind: str) -> None:
    method = _method(kind, ["image", "audio", "text"], head_loss_weight=0.0)
    method.normaliser = NORM
    pred = method.predict_split(_split(8, 3), "test")
    assert pred.per_modality == {} and pred.probs.shape == (8, K)
    # and the loss is then the fused loss alone: no head term to add
    batch = NORM.batch(_split(8, 3), torch.arange(8), method.modalities)
    if kind == "deep_ensemble":
        batch = NORM.batch(_split(8, 3), torch.arange(8).expand(2, 8), method.modalities)
    with method.seeded("a"):
        fused_only = method.loss(batch, 1)
    method.spec = method.spec.model_copy(update={"head_loss_weight": 1.0})
    with method.seeded("a"):
        with_heads = method.loss(batch, 1)
    assert torch.all(with_heads > fused_only)
