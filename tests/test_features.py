"""Stage 5 on a small synthetic accepted corpus: shapes, row order, cache, determinism, masking."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lumabench import features
from lumabench.errors import MissingDependencyError
from lumabench.features import handcrafted, pretrained
from lumabench.params import Params, load_params
from lumabench.paths import Paths
from synth_accepted import make

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Params, Paths]:
    root = tmp_path_factory.mktemp("features")
    paths = make(root, per_class=3, image_test=1, ood=1)
    params = load_params(ROOT / "params.yaml", ["features.device=cpu"])
    features.run(params, paths)
    return params, paths


def test_outputs_match_the_accepted_rows(stage: tuple[Params, Paths]) -> None:
    _, paths = stage
    dims = {"image": 384, "audio": 188, "text": 384}
    for m, dim in dims.items():
        f = np.load(paths.features / f"{m}.npy")
        ids = pd.read_parquet(paths.features / f"{m}.parquet")
        acc = pd.read_parquet(paths.accepted / f"{m}.parquet")
        assert f.dtype == np.float32 and f.shape == (len(acc), dim) and np.isfinite(f).all()
        assert sorted(ids["id"]) == list(ids["id"])
        idcol = {"image": "image_id", "audio": "clip_id", "text": "text_id"}[m]
        assert set(ids["id"]) == set(acc[idcol])
        assert (ids.set_index("id")["label"] == acc.set_index(idcol)["label"].loc[ids["id"]]).all()
    t = np.load(paths.features / "text.npy")
    assert np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-4)


def test_cached_and_deterministic(stage: tuple[Params, Paths], tmp_path: Path) -> None:
    params, paths = stage
    before = {p.name: p.stat().st_mtime_ns for p in paths.features.iterdir()}
    features.run(params, paths)
    assert {p.name: p.stat().st_mtime_ns for p in paths.features.iterdir()} == before
    root2 = tmp_path / "copy"
    shutil.copytree(paths.root / "data", root2 / "data", ignore=shutil.ignore_patterns("features"))
    paths2 = Paths(root2, "mini")
    features.run(params, paths2)
    for name in ("image.npy", "audio.npy", "text.npy", "image.parquet", "audio.parquet", "text.parquet"):
        assert (paths.features / name).read_bytes() == (paths2.features / name).read_bytes(), name


def test_image_and_audio_features_separate_classes(stage: tuple[Params, Paths]) -> None:
    _, paths = stage
    for m in ("image", "audio"):
        f = np.load(paths.features / f"{m}.npy").astype(np.float64)
        y = pd.read_parquet(paths.features / f"{m}.parquet")["label"].to_numpy()
        d = ((f[:, None] - f[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        acc = (y[d.argmin(1)] == y).mean()  # leave-one-out 1-NN, chance is 1/50
        assert acc > 0.5, (m, acc)


def test_class_words_are_masked_for_every_label() -> None:
    text = "Horses and a HORSE near the horsefly; mice, a Mouse and two buses."
    assert pretrained.mask_class_words(text, "[MASK]") == (
        "[MASK] and a [MASK] near the horsefly; [MASK], a [MASK] and two [MASK]."
    )
    a, b = pretrained.minilm_embed(["A small horse stood by the river.", "A small camel stood by the river."], "cpu", 8)
    assert np.allclose(a, b, atol=1e-6)


def test_handcrafted_audio_is_robust_to_short_clips() -> None:
    assert handcrafted.audio_features(np.zeros(100, np.float32)).shape == (188,)


def test_full_profile_extractors_fail_clearly_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(MissingDependencyError, match="ResNet-18"):
        pretrained.imagenet_embed(np.zeros((1, 32, 32, 3), np.uint8), "cpu", 4)
    with pytest.raises(MissingDependencyError, match="wav2vec2"):
        pretrained.wav2vec2_embed([np.zeros(1600, np.float32)], "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(MissingDependencyError, match="bert-base"):
        pretrained.bert_embed(["a text"], "cpu", 4)
