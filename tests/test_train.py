"""Stage 7 end to end on a small learnable synthetic variant: learning, OOD, outputs, determinism, missing data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from lumabench import data as ldata
from lumabench import train
from lumabench.errors import InputError, ParamsError
from lumabench.features import pretrained
from lumabench.params import MODALITIES, Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from lumabench.schemas import PREDICTIONS
from synth_variant import ID_CLASSES, quick_training, write_variant

FAST = [
    *quick_training(5),
    "methods.mcd_fused.samples=8",
    "methods.mcd_fused.sigma_samples=10",
    "methods.mcd_text.samples=8",
    "methods.mcd_text.sigma_samples=10",
    "methods.de_fused.members=3",
    "methods.de_fused.sigma_samples=10",
    "methods.rcml_fused.kl_anneal_fraction=0.6",
]
ALL = ["image", "audio", "text"]
# The same method entries as params.yaml, built here so the tests do not depend on other sections.
TREE = {
    "run": {
        "variants": ["clean", "missing"],
        "methods": ["mcd_fused", "de_fused", "rcml_fused", "mcd_text"],
        "seeds": [42, 43],
    },
    "variants": {"definitions": {"clean": {"family": "clean"}, "missing": {"family": "missing"}}},
    "methods": {
        "mcd_fused": {"kind": "mc_dropout", "modalities": ALL, "dropout": 0.3, "samples": 100},
        "mcd_text": {"kind": "mc_dropout", "modalities": ["text"], "dropout": 0.3, "samples": 100},
        "de_fused": {"kind": "deep_ensemble", "modalities": ALL, "dropout": 0.3, "members": 10},
        "rcml_fused": {"kind": "rcml", "modalities": ALL, "kl_anneal_fraction": 1 / 6, "conflict_weight": 1.0},
    },
}
SIZES = {"train_per_class": 20, "test_per_class": 6, "ood_per_class": 6}
N_TEST, N_OOD = 6 * len(ID_CLASSES), 12
SEED = 42  # run.seeds[0]: what train.run uses when no seed is given
METRIC_KEYS = {
    "variant", "method", "kind", "modalities", "profile", "seed", "data_seed", "test", "ood", "per_modality", "train",
}  # fmt: skip
TEST_KEYS = {"acc", "acc_original", "nll", "brier", "ece", "aleatoric", "epistemic", "total", "n", "excluded"}
OOD_KEYS = {"aleatoric", "epistemic", "total", "n", "excluded"} | {
    f"{m}_{u}" for m in ("auroc", "aupr", "fpr95") for u in ("epistemic", "total")
}


def _params(*extra: str) -> Params:
    return Params.model_validate(resolve_raw(TREE, parse_overrides([*FAST, *extra])))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("stage7")
    write_variant(root, "clean", **SIZES)
    write_variant(root, "missing", **SIZES, missing={"image": 0.3, "audio": 0.3, "text": 0.3}, missing_train=True)
    return Paths(root, "mini")


@pytest.fixture(scope="module")
def runs(paths: Paths) -> dict[str, tuple[dict, bytes, bytes]]:
    """Each fused method trained once on the clean variant: metrics, metrics bytes, predictions bytes."""
    out = {}
    for method in ("mcd_fused", "de_fused", "rcml_fused"):
        m = train.run(_params(), paths, "clean", method)
        out[method] = (
            m,
            paths.metrics("clean", method, SEED).read_bytes(),
            paths.predictions("clean", method, SEED).read_bytes(),
        )
    return out


@pytest.mark.parametrize("method", ["mcd_fused", "de_fused", "rcml_fused"])
def test_fused_methods_learn_and_detect_ood(paths: Paths, runs: dict, method: str) -> None:
    m = runs[method][0]
    assert set(m) == METRIC_KEYS
    extras = {"vacuity"} if method == "rcml_fused" else set()  # evidential: vacuity beside the decomposition
    assert set(m["test"]) == TEST_KEYS | extras
    assert set(m["ood"]) == OOD_KEYS | extras | {f"{k}_{e}" for k in ("auroc", "aupr", "fpr95") for e in extras}
    assert m["test"]["n"] == N_TEST and m["ood"]["n"] == N_OOD
    assert m["test"]["acc"] >= 0.7, m["test"]  # chance is 1/5
    assert m["ood"]["auroc_epistemic"] > 0.5, m["ood"]
    assert set(m["per_modality"]) == set(MODALITIES)
    if m["kind"] != "rcml":
        assert m["test"]["total"] == pytest.approx(m["test"]["aleatoric"] + m["test"]["epistemic"], abs=2e-6)
    assert 1 <= m["train"]["best_epoch"] <= m["train"]["epochs"] <= 5
    assert m["train"]["seconds"] is None
    table = pq.read_table(paths.predictions("clean", method, SEED))
    assert table.schema.names == PREDICTIONS.names
    assert table.num_rows == N_TEST + N_OOD
    assert set(table.column("split").to_pylist()) == {"test", "ood"}
    probs = np.array(table.column("probs").to_pylist())
    assert probs.shape[1] == 42 and np.allclose(probs.sum(1), 1.0, atol=1e-4)
    assert paths.model("clean", method, SEED).is_file()
    assert m["seed"] == SEED and m["data_seed"] == 42


def test_checkpoint_reproduces_predictions(paths: Paths, runs: dict) -> None:
    params = _params()
    ckpt = torch.load(paths.model("clean", "rcml_fused", SEED), weights_only=False)
    assert ckpt["seed"] == SEED and ckpt["data_seed"] == params.seed
    model = train.build_method(params, "rcml_fused", ckpt["text_dim"], torch.device("cpu"), ckpt["seed"])
    model.load(ckpt)
    test = ldata.load_split(paths, "clean", "test", params.train)
    again = model.predict_split(test, "test")
    table = pq.read_table(paths.predictions("clean", "rcml_fused", SEED)).to_pandas()
    stored = np.stack(table[table["split"] == "test"]["probs"].to_numpy())
    assert np.allclose(again.probs.numpy(), stored, atol=1e-6)


def test_rerun_is_byte_identical(paths: Paths, runs: dict) -> None:
    _, metrics_bytes, predictions_bytes = runs["mcd_fused"]
    train.run(_params(), paths, "clean", "mcd_fused")
    assert paths.metrics("clean", "mcd_fused", SEED).read_bytes() == metrics_bytes
    assert paths.predictions("clean", "mcd_fused", SEED).read_bytes() == predictions_bytes


def test_cpu_bfloat16_learns_and_reruns_identically(
    paths: Paths, runs: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`train.amp_cpu`: bfloat16 on CPU still learns, is still byte-identical on rerun, and is really on."""
    other = Paths(tmp_path_factory.mktemp("bf16"), "mini")
    write_variant(other.root, "clean", **SIZES)
    params = _params("train.amp_cpu=true")
    m = train.run(params, other, "clean", "mcd_fused")
    first = other.predictions("clean", "mcd_fused", SEED).read_bytes()
    assert m["test"]["acc"] >= 0.7, m["test"]
    assert m["ood"]["auroc_epistemic"] > 0.5, m["ood"]
    train.run(params, other, "clean", "mcd_fused")
    assert other.predictions("clean", "mcd_fused", SEED).read_bytes() == first
    assert first != runs["mcd_fused"][2]  # same data and seeds as the float32 run: bfloat16 changed the numbers


def test_missing_modalities(paths: Paths) -> None:
    params = _params()
    test = ldata.load_split(paths, "missing", "test", params.train)
    present = test.present.numpy()
    assert 0 < present.sum() < present.size and present.any(1).all()
    m = train.run(params, paths, "missing", "rcml_fused")
    for i, mod in enumerate(MODALITIES):
        assert m["per_modality"][mod]["n"] == int(present[:, i].sum())
    assert m["test"]["acc"] >= 0.7, m["test"]
    # a unimodal text model is not scored on rows without text (tests/test_scoring.py has the details)
    m = train.run(params, paths, "missing", "mcd_text")
    assert m["test"]["excluded"] == int((~present[:, 2]).sum()) > 0
    assert m["test"]["n"] == int(present[:, 2].sum())


def test_tensor_cache_hit_and_invalidation(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    params = _params()
    first = ldata.load_split(paths, "clean", "ood", params.train)
    assert ldata.cache_path(paths, "clean", "ood").is_file()

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("decoded again although the cache is valid")

    with monkeypatch.context() as mp:
        mp.setattr(ldata, "_decode", boom)
        cached = ldata.load_split(paths, "clean", "ood", params.train)
    assert cached.sample_id == first.sample_id and torch.equal(cached.audio, first.audio)
    # a changed parameter or a rewritten Parquet file invalidates the cache
    other = _params("train.n_mels=24")
    assert ldata.load_split(paths, "clean", "ood", other.train).audio.shape[2] == 24
    root2 = paths.root / "copy"
    write_variant(root2, "clean", train_per_class=2, test_per_class=2, ood_per_class=3, seed=5)
    p2 = Paths(root2, "mini")
    shutil.copytree(paths.cache, p2.cache, dirs_exist_ok=True)
    assert len(ldata.load_split(p2, "clean", "ood", params.train)) == 6


def test_a_split_identical_to_another_variants_is_not_decoded_again(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test-only variant's train split is byte-identical to its source's: it takes the source's
    decoded tensors. A split of other bytes, or a cache file decoded under another key, is decoded."""
    params = _params()
    first = ldata.load_split(paths, "clean", "train", params.train)
    twin = paths.variant("twin")
    twin.mkdir(parents=True)
    shutil.copy(paths.variant("clean") / "train.parquet", twin / "train.parquet")
    decoded: list[str] = []
    real = ldata._decode

    def counting(parquet, split, *a, **k):  # type: ignore[no-untyped-def]
        decoded.append(f"{parquet.parent.name}/{split}")
        return real(parquet, split, *a, **k)

    monkeypatch.setattr(ldata, "_decode", counting)
    same = ldata.load_split(paths, "twin", "train", params.train)
    assert decoded == [] and same.sample_id == first.sample_id and torch.equal(same.audio, first.audio)
    # other parameters: another key, so the twin decodes its own split
    assert ldata.load_split(paths, "twin", "train", _params("train.n_mels=24").train).audio.shape[2] == 24
    assert decoded == ["twin/train"]
    # a .key that lies about its tensors is not believed: the key stored in the tensors is checked
    shutil.rmtree(paths.cache / "tensors" / "missing", ignore_errors=True)
    key = ldata.cache_key(paths.variant("missing") / "train.parquet", params.train)
    ldata.cache_path(paths, "clean", "train").with_suffix(".key").write_text(ldata._digest(key))
    ldata.load_split(paths, "missing", "train", params.train)
    assert decoded[-1] == "missing/train"


def test_image_audio_text_decoding(paths: Paths) -> None:
    st = ldata.load_split(paths, "clean", "train", _params().train)
    assert st.image.dtype == torch.uint8 and st.image.shape[1:] == (3, 32, 32)
    assert st.audio.shape[1:] == (1, 32, 32) and torch.isfinite(st.audio.float()).all()
    assert st.text.shape[1] == 384 and st.present.all()
    norms = st.text.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-3)


def test_class_words_are_masked() -> None:
    text = "The Horse met two HORSES, a seahorse, three men and a Mouse's mice; plainly plain."
    assert pretrained.mask_class_words(text, "[MASK]") == (
        "The [MASK] met two [MASK], a seahorse, three [MASK] and a [MASK]'s [MASK]; plainly [MASK]."
    )


def test_clear_errors(paths: Paths) -> None:
    with pytest.raises(ParamsError, match="unknown method"):
        train.run(_params(), paths, "clean", "nope")
    with pytest.raises(InputError, match="missing input"):
        train.run(_params(), paths, "diversity", "rcml_fused")


# ---------------------------------------------------------------- training seeds
def _watch(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Per `train.run` call: the module state right after build, the first epoch's batches, fit's rows."""
    seen: list[dict] = []
    build = train.build_method

    def recording_build(*args: object, **kwargs: object) -> object:
        model = build(*args, **kwargs)  # type: ignore[arg-type]
        rec: dict = {"init": {k: v.detach().clone() for k, v in model.module.state_dict().items()}, "order": []}
        seen.append(rec)
        make_step, fit = model.train_step, model.fit

        def train_step(*a: object, **k: object) -> object:
            step = make_step(*a, **k)  # type: ignore[arg-type]

            def recorded(idx: torch.Tensor, epoch: int) -> None:
                if epoch == 1:
                    rec["order"].append(idx.detach().cpu().clone())
                step(idx, epoch)

            return recorded

        def recorded_fit(tr: ldata.SplitTensors, va: ldata.SplitTensors, normaliser: ldata.Normaliser) -> object:
            rec["train_ids"], rec["val_ids"] = list(tr.sample_id), list(va.sample_id)
            return fit(tr, va, normaliser)

        model.train_step = train_step  # type: ignore[method-assign]
        model.fit = recorded_fit  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(train, "build_method", recording_build)
    return seen


@pytest.fixture(scope="module")
def seeded(paths: Paths) -> tuple[Paths, dict]:
    """mcd_text for one epoch on two variants (other data, the same rows) with seed 42, and on one with 43."""
    write_variant(paths.root, "shifted", **SIZES, seed=5)
    params = _params("train.max_epochs=1")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        seen = _watch(mp)
        for variant, seed in (("clean", 42), ("shifted", 42), ("clean", 43)):
            metrics = train.run(params, paths, variant, "mcd_text", seed)
            out[(variant, seed)] = {**seen[-1], "metrics": metrics}
    return paths, out


def test_one_seed_starts_every_variant_from_the_same_weights_and_batches(seeded: tuple[Paths, dict]) -> None:
    paths, runs = seeded
    a, b = runs[("clean", 42)], runs[("shifted", 42)]
    assert a["init"].keys() == b["init"].keys()
    assert all(torch.equal(a["init"][k], b["init"][k]) for k in a["init"])
    assert len(a["order"]) == len(b["order"]) == -(-len(a["train_ids"]) // 40)  # batch_size 40
    assert all(torch.equal(x, y) for x, y in zip(a["order"], b["order"], strict=True))
    assert a["train_ids"] == b["train_ids"]  # so the same samples fill the same batches
    # only the data differ: text features and hence the predictions are not the same
    probs = [
        np.array(pq.read_table(paths.predictions(v, "mcd_text", 42)).column("probs").to_pylist())
        for v in ("clean", "shifted")
    ]
    assert not np.allclose(*probs)


def test_two_seeds_start_from_different_weights_and_batches(seeded: tuple[Paths, dict]) -> None:
    _, runs = seeded
    a, c = runs[("clean", 42)], runs[("clean", 43)]
    floats = [k for k, v in a["init"].items() if v.is_floating_point() and v.numel() > 1]
    assert floats and all(not torch.equal(a["init"][k], c["init"][k]) for k in floats)
    assert not torch.equal(a["order"][0], c["order"][0])
    assert a["metrics"]["test"] != c["metrics"]["test"]


def test_validation_split_depends_on_data_seed_and_class_only(seeded: tuple[Paths, dict]) -> None:
    paths, runs = seeded
    first = runs[("clean", 42)]
    for r in runs.values():  # every variant and training seed holds out the same rows
        assert r["val_ids"] == first["val_ids"] and r["train_ids"] == first["train_ids"]
    per_class = {c: sum(s.split("-")[1] == f"{c:02d}" for s in first["val_ids"]) for c in ID_CLASSES}
    assert set(per_class.values()) == {round(0.2 * SIZES["train_per_class"])}  # stratified
    st = ldata.load_split(paths, "clean", "train", _params().train)
    same = train.validation_split(st, 0.2, 42)
    assert all(np.array_equal(x, y) for x, y in zip(same, train.validation_split(st, 0.2, 42), strict=True))
    assert not np.array_equal(same[1], train.validation_split(st, 0.2, 7)[1])  # a new data seed, a new split


def test_metrics_carry_the_seed_and_files_land_at_seed_paths(seeded: tuple[Paths, dict]) -> None:
    paths, runs = seeded
    for (variant, seed), r in runs.items():
        path = paths.metrics(variant, "mcd_text", seed)
        assert path == paths.results / "metrics" / variant / "mcd_text" / f"seed-{seed}.json"
        stored = json.loads(path.read_text())
        assert stored["seed"] == r["metrics"]["seed"] == seed and stored["data_seed"] == 42
        assert paths.predictions(variant, "mcd_text", seed).name == f"seed-{seed}.parquet"
        assert torch.load(paths.model(variant, "mcd_text", seed), weights_only=False)["seed"] == seed
    written = sorted(
        p.relative_to(paths.results).as_posix()
        for v in ("clean", "shifted")
        for p in paths.metrics(v, "mcd_text", 0).parent.iterdir()
    )
    assert written == [
        "metrics/clean/mcd_text/seed-42.json", "metrics/clean/mcd_text/seed-43.json",
        "metrics/shifted/mcd_text/seed-42.json",
    ]  # fmt: skip
    with pytest.raises(ParamsError, match="training seed"):
        train.run(_params(), paths, "clean", "mcd_text", -1)
