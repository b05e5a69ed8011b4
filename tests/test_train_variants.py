"""Stage 7 reads what stage 6 writes: train on a variant built by `lumabench.variants` itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lumabench import train
from lumabench.params import load_params
from lumabench.variants.build import build, load_inputs
from synth_accepted import make, write_cheap_features

ROOT = Path(__file__).resolve().parents[1]


def test_train_on_a_built_missing_variant(tmp_path: Path) -> None:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    paths = make(tmp_path)
    write_cheap_features(paths)
    params = load_params(
        tmp_path / "params.yaml",
        [
            "variants.train_per_class=10",
            "variants.test_per_class=5",
            "variants.num_sampling=3",
            "train.max_epochs=3",
            "train.n_mels=32",
            "train.frames=32",
            "train.device=cpu",
            "methods.mcd_fused.samples=4",
            "methods.mcd_fused.sigma_samples=5",
        ],
    )
    build(params, paths, "missing", load_inputs(params, paths))
    m = train.run(params, paths, "missing", "mcd_fused")
    test = pq.read_table(paths.variant("missing") / "test.parquet").to_pandas()
    assert m["test"]["n"] == len(test)
    for mod in ("image", "audio", "text"):
        assert m["per_modality"][mod]["n"] == int(test[mod].notna().sum())
    assert m["test"]["acc"] > 3 / 42, m["test"]  # 42 classes, three epochs: clearly above chance
    seed = params.run.seeds[0]  # no seed given: the first training seed of params.yaml
    assert m["seed"] == seed and m["data_seed"] == params.seed
    preds = pq.read_table(paths.predictions("missing", "mcd_fused", seed)).to_pandas()
    assert len(preds) == len(test) + m["ood"]["n"]
    assert np.isfinite(preds[["aleatoric", "epistemic", "total"]].to_numpy()).all()
    assert m["test"]["total"] == pytest.approx(m["test"]["aleatoric"] + m["test"]["epistemic"], abs=2e-6)
