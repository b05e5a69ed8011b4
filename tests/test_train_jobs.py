"""One process trains several models of a variant (`train.run_many`), and `weights_from` entries
evaluate another method's model: both must give exactly what separate training would."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from lumabench import train
from lumabench.params import Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from synth_variant import quick_training, write_variant

FAST = quick_training(2, lr=None, spectrogram=None)
MLA = {"width": 16, "hgm": True, "fusion": "dynamic", "samples": 3}


def _params(**run: object) -> Params:
    tree = {
        "run": {"variants": ["clean", "noisy-1"], "methods": ["mcd_text", "mla_fused"], "seeds": [3, 4], **run},
        "variants": {
            "definitions": {
                "clean": {"family": "clean"},
                "noisy": {"family": "conflict", "test_rate": 0.4, "sweep": "test_rate", "levels": [1]},
            }
        },
        "methods": {
            "mcd_text": {"kind": "mc_dropout", "modalities": ["text"], "dropout": 0.2, "samples": 3,
                         "sigma_samples": 3},
            "mla_fused": {"kind": "mla", "modalities": ["image", "text"], "dropout": 0.2, "mla": MLA},
            "mla_fixed": {"kind": "mla", "modalities": ["image", "text"], "dropout": 0.2,
                          "weights_from": "mla_fused", "mla": {**MLA, "fusion": "fixed", "samples": 5}},
        },
    }  # fmt: skip
    return Params.model_validate(resolve_raw(tree, parse_overrides(FAST)))


@pytest.fixture()
def project(tmp_path) -> Paths:
    write_variant(tmp_path, "clean", train_per_class=8, test_per_class=3, ood_per_class=2)
    return Paths(tmp_path, "mini")


def _outputs(paths: Paths, method: str, seed: int) -> list[bytes]:
    return [f.read_bytes() for f in train.output_set(paths, "clean", method, seed)]


def test_one_process_writes_the_bytes_of_one_process_per_model(project: Paths, tmp_path) -> None:
    params = _params()
    metrics = train.run_many(params, project, "clean", ["mcd_text", "mla_fused"], [3, 4])
    assert [(m["method"], m["seed"]) for m in metrics] == [
        ("mcd_text", 3), ("mcd_text", 4), ("mla_fused", 3), ("mla_fused", 4)
    ]  # fmt: skip
    together = {(m, s): _outputs(project, m, s) for m in ("mcd_text", "mla_fused") for s in (3, 4)}
    for m, s in together:  # each model alone, in reverse order, data loaded anew
        for f in train.output_set(project, "clean", m, s):
            f.unlink()
    for m, s in reversed(list(together)):
        train.run(params, project, "clean", m, s)
    for key, files in together.items():
        assert _outputs(project, *key) == files, key
    assert together[("mcd_text", 3)] != together[("mcd_text", 4)]  # the seed does change the model


def test_weights_from_evaluates_the_source_model_with_its_own_fusion(project: Paths) -> None:
    params = _params(methods=["mcd_text", "mla_fused", "mla_fixed"])
    # the dependent entry first on the command line: it still runs after its source
    out = train.run_many(params, project, "clean", ["mla_fixed", "mla_fused"], [3])
    assert [m["method"] for m in out] == ["mla_fused", "mla_fixed"]
    fused, fixed = out
    assert fixed["train"]["weights_from"] == "mla_fused" and fused["train"]["weights_from"] is None
    assert fixed["train"]["best_val_loss"] == fused["train"]["best_val_loss"]
    a = torch.load(project.model("clean", "mla_fused", 3), weights_only=False)["state_dict"]
    b = torch.load(project.model("clean", "mla_fixed", 3), weights_only=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # same model, other test-time fusion: the predictions differ
    assert fixed["test"]["nll"] != fused["test"]["nll"]


def test_weights_from_without_the_source_trains_the_same_model(project: Paths) -> None:
    params = _params(methods=["mcd_text", "mla_fused", "mla_fixed"])
    train.run(params, project, "clean", "mla_fixed", 3)  # no mla_fused model yet: trains under its key
    alone = torch.load(project.model("clean", "mla_fixed", 3), weights_only=False)["state_dict"]
    train.run(params, project, "clean", "mla_fused", 3)
    source = torch.load(project.model("clean", "mla_fused", 3), weights_only=False)["state_dict"]
    assert all(torch.equal(alone[k], source[k]) for k in source)


def test_weights_from_refuses_other_training_settings() -> None:
    with pytest.raises(ValidationError, match=r"weights_from: 'mla_fused' trains with other settings"):
        _params(methods=["mcd_text"]).model_validate(
            {
                **_params().model_dump(),
                "methods": {
                    **_params().model_dump()["methods"],
                    "mla_fixed": {**_params().model_dump()["methods"]["mla_fixed"], "dropout": 0.5},
                },
            }
        )


def test_variant_methods_narrow_the_grid() -> None:
    p = _params(variant_methods={"noisy": ["mla_fused"]})
    assert p.run.methods_for("clean") == ["mcd_text", "mla_fused"]
    assert p.run.methods_for("noisy-1") == ["mla_fused"]
    assert p.run.cells() == [
        ("clean", "mcd_text", 3), ("clean", "mcd_text", 4), ("clean", "mla_fused", 3), ("clean", "mla_fused", 4),
        ("noisy-1", "mla_fused", 3), ("noisy-1", "mla_fused", 4),
    ]  # fmt: skip
    with pytest.raises(ValidationError, match=r"run\.variant_methods\.nope: unknown variant"):
        _params(variant_methods={"nope": ["mla_fused"]})
    with pytest.raises(ValidationError, match=r"run\.variant_methods\.noisy\.0: unknown method"):
        _params(variant_methods={"noisy": ["de_text"]})
