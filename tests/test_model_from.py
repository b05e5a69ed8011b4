"""`model_from`: a test-only variant evaluates its source's models, and that is the model it would train."""

from __future__ import annotations

import io
import shutil

import pyarrow.parquet as pq
import pytest
import torch
from pydantic import ValidationError

from lumabench import train
from lumabench.errors import InputError
from lumabench.params import Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from synth_variant import quick_training, write_variant

FAST = [
    *quick_training(3, lr=None, spectrogram=None),
    "methods.mcd_text.samples=4",
    "methods.mcd_text.sigma_samples=4",
]


def _params(model_from: str | None) -> Params:
    shifted = {"family": "conflict", "test_rate": 0.4, **({"model_from": model_from} if model_from else {})}
    tree = {
        "run": {"variants": ["clean", "shifted"], "methods": ["mcd_text"], "seeds": [3]},
        "variants": {"definitions": {"clean": {"family": "clean"}, "shifted": shifted}},
        "methods": {"mcd_text": {"kind": "mc_dropout", "modalities": ["text"], "dropout": 0.2}},
    }
    return Params.model_validate(resolve_raw(tree, parse_overrides(FAST)))


@pytest.fixture()
def paths(tmp_path) -> Paths:
    write_variant(tmp_path, "clean", train_per_class=12, test_per_class=6, ood_per_class=4)
    shifted = write_variant(tmp_path, "shifted", train_per_class=12, test_per_class=6, ood_per_class=4, seed=5)
    shutil.copyfile(tmp_path / "data/mini/variants/clean/train.parquet", shifted / "train.parquet")
    return Paths(tmp_path, "mini")


def test_reused_model_equals_the_model_trained_on_the_variant(paths: Paths) -> None:
    trained = train.run(_params(None), paths, "shifted", "mcd_text", 3)
    own = pq.read_table(paths.predictions("shifted", "mcd_text", 3))
    own_model = paths.model("shifted", "mcd_text", 3).read_bytes()
    train.run(_params(None), paths, "clean", "mcd_text", 3)
    reused = train.run(_params("clean"), paths, "shifted", "mcd_text", 3)
    assert trained["train"]["model_from"] is None and reused["train"]["model_from"] == "clean"
    assert pq.read_table(paths.predictions("shifted", "mcd_text", 3)).equals(own)
    assert reused["test"] == trained["test"] and reused["ood"] == trained["ood"]
    assert reused["train"]["best_epoch"] == trained["train"]["best_epoch"]
    # the written checkpoint holds the same weights as the one trained on the variant
    a = torch.load(io.BytesIO(own_model), weights_only=False)["state_dict"]
    b = torch.load(paths.model("shifted", "mcd_text", 3), weights_only=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_without_the_source_model_the_variant_trains_it(paths: Paths) -> None:
    m = train.run(_params("clean"), paths, "shifted", "mcd_text", 3)
    assert not paths.model("clean", "mcd_text", 3).exists()
    assert m["train"]["model_from"] == "clean"  # the same model, so the same record
    assert m["train"]["epochs"] > 0


def test_a_different_train_split_is_refused(paths: Paths) -> None:
    write_variant(paths.root, "shifted", train_per_class=12, test_per_class=6, ood_per_class=4, seed=9)
    train.run(_params(None), paths, "clean", "mcd_text", 3)
    with pytest.raises(InputError, match="train split differs"):
        train.run(_params("clean"), paths, "shifted", "mcd_text", 3)


def test_model_from_must_name_a_plain_training_variant() -> None:
    with pytest.raises(ValidationError, match="model_from"):
        _params("shifted")  # itself
    with pytest.raises(ValidationError, match="model_from"):
        _params("nowhere")


def test_input_scaling_does_not_depend_on_the_thread_count(paths: Paths) -> None:
    """A threaded torch sum splits differently with 1 and 2 threads; the scaling must not move."""
    from lumabench.data import Normaliser, load_split

    params = _params(None)
    split = load_split(paths, "clean", "train", params.train)
    before = torch.get_num_threads()
    try:
        fitted = []
        for n in (1, 2):
            torch.set_num_threads(n)
            fitted.append(Normaliser.fit(split, params.train))
    finally:
        torch.set_num_threads(before)
    assert fitted[0] == fitted[1]
