"""`lumabench robustness` end to end on a small synthetic variant: the diagonal is the train stage's
ordinary test accuracy, a one-modality row ignores nothing it could use, the train stage's model is
reused only when it is the same model, and reruns are byte-identical."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from lumabench import robustness, train
from lumabench.modality_sets import set_name
from lumabench.params import MODALITIES, Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from lumabench.robustness.training import NOT_TRAINING, training_settings
from synth_variant import quick_training, write_variant

FULL = set_name(MODALITIES)
ALL = list(MODALITIES)
FAST = [
    *quick_training(4),
    "methods.mcd_fused.samples=6",
    "methods.mcd_fused.sigma_samples=8",
]
TREE = {
    "run": {"variants": ["clean"], "methods": ["mcd_fused"], "seeds": [42]},
    "variants": {"definitions": {"clean": {"family": "clean"}}},
    "methods": {"mcd_fused": {"kind": "mc_dropout", "modalities": ALL, "dropout": 0.3}},
    "robustness": {
        "variant": "clean",
        "methods": ["mcd_fused"],
        "train_sets": [ALL, ["image"]],
        "distill": {"weight": 1.0, "temperature": 1.0},
        "wise_ft": {"old": ["image", "text"], "new": ALL, "alphas": [0.0, 0.5, 1.0], "max_epochs": 2},
    },
}
SIZES = {"train_per_class": 20, "test_per_class": 6, "ood_per_class": 6}


def _params(*extra: str) -> Params:
    return Params.model_validate(resolve_raw(TREE, parse_overrides([*FAST, *extra])))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The train stage's ordinary and image-only models, then the stage, run once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("robustness")
        write_variant(root, "clean", **SIZES)
        paths = Paths(root, "mini")
        ordinary = train.run(_params(), paths, "clean", "mcd_fused", 42)
        # the same entry trained on the image alone, through the train stage (elsewhere: same file names)
        other = tmp_path_factory.mktemp("image_only")
        shutil.copytree(paths.variant("clean"), Paths(other, "mini").variant("clean"))
        restricted = _params("methods.mcd_fused.modalities=[image]", "robustness.methods=[]")
        image_only = train.run(restricted, Paths(other, "mini"), "clean", "mcd_fused", 42)
        summary = robustness.run(_params(), paths)
        files = {p.name: p.read_bytes() for p in sorted(paths.robustness.rglob("*.json"))}
    finally:
        torch.set_num_threads(threads)
    return {"paths": paths, "ordinary": ordinary, "image_only": image_only, "summary": summary, "files": files}


def _run(project: dict) -> dict:
    return json.loads(project["files"]["seed-42.json"])


def test_the_diagonal_is_the_ordinary_test_accuracy(project: dict) -> None:
    matrix = _run(project)["matrix"]
    for key in ("acc", "nll", "ece", "brier"):
        assert matrix[FULL][FULL][key] == project["ordinary"]["test"][key], key
        assert matrix["image"]["image"][key] == project["image_only"]["test"][key], key
    assert matrix[FULL][FULL]["n"] == project["ordinary"]["test"]["n"]


def test_a_one_modality_model_deployed_on_all_three_uses_what_it_has(project: dict) -> None:
    row = _run(project)["matrix"]["image"]
    assert row[FULL] == row["image"] == row["image+audio"] == row["image+text"]
    assert row[FULL]["n"] == project["ordinary"]["test"]["n"] and row[FULL]["acc"] > 0.5  # chance 1/5
    assert row["audio"] is None and row["text"] is None and row["audio+text"] is None


def test_summary_numbers_follow_the_definitions(project: dict) -> None:
    run = _run(project)
    m = run["matrix"]
    s = project["summary"]["methods"]["mcd_fused"]
    acc = {(a, b): c["acc"] for a, row in m.items() for b, c in row.items() if c is not None}
    rr = [acc[a, b] - acc[a, a] for a, b in acc if a != b]
    er = [acc[a, b] - acc[b, b] for a, b in acc if a != b and (b, b) in acc]
    none = s["robustness"][0]
    assert none["intervention"] == "none"
    assert none["rr_without"]["mean"] == pytest.approx(sum(rr) / len(rr), abs=2e-6)
    assert none["er_without"]["mean"] == pytest.approx(sum(er) / len(er), abs=2e-6)
    assert s["losing"]["image"]["rr"]["mean"] == pytest.approx(acc[FULL, "audio+text"] - acc[FULL, FULL], abs=2e-6)
    distilled = s["robustness"][1]
    row = run["distill"]["row"]
    with_ = [row[b]["acc"] - row[FULL]["acc"] for b in row if b != FULL]
    assert distilled["rr_with"]["mean"] == pytest.approx(sum(with_) / len(with_), abs=2e-6)
    # WiSE-FT: image+text is not a training set here, so θ₀ was trained for the curve; at α = 0 it
    # has no audio encoder, so the new set (with audio) gives the old set's numbers
    curve = run["wise_ft"]["curve"]
    assert [p["alpha"] for p in curve] == [0.0, 0.5, 1.0]
    assert curve[0]["old"] == curve[0]["new"]
    assert project["summary"]["sentence"].startswith(f"Trained on {FULL}")


def test_the_train_stage_model_is_reused_only_when_it_is_the_same_model(project: dict, tmp_path) -> None:
    """The train stage's checkpoint records its `train` settings, so the stage loads it; a checkpoint
    without that record is not trusted (retrained, same numbers); the stage's files are
    byte-identical either way except that record."""
    paths: Paths = project["paths"]
    first = _run(project)
    assert first["fit"][FULL]["reused"] is True
    ckpt_path = paths.model("clean", "mcd_fused", 42)
    ckpt = torch.load(ckpt_path, weights_only=False)
    recorded = {k: v for k, v in ckpt["train"].items() if k not in NOT_TRAINING}
    assert recorded == training_settings(_params())
    stripped = {k: v for k, v in ckpt.items() if k != "train"}
    torch.save(stripped, ckpt_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        robustness.run(_params(), paths)
    finally:
        torch.set_num_threads(threads)
        torch.save(ckpt, ckpt_path)
    again = {p.name: p.read_bytes() for p in sorted(paths.robustness.rglob("*.json"))}
    assert again["summary.json"] == project["files"]["summary.json"]
    second = json.loads(again["seed-42.json"])
    assert second["fit"][FULL]["reused"] is False
    second["fit"][FULL]["reused"] = True
    assert second == first
    # other training settings: not reused
    ckpt["train"]["lr"] = 0.5
    torch.save(ckpt, ckpt_path)
    from lumabench.robustness.training import _matching_checkpoint

    assert not _matching_checkpoint(ckpt_path, _params(), "mcd_fused", 42)
