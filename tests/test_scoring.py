"""Scoring against the right truth: one ECE binning, original-label accuracy, unscorable rows left out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lumabench import classes as luma_classes
from lumabench import data as ldata
from lumabench import io as lio
from lumabench import train
from lumabench.evaluate import metrics as M
from lumabench.params import MODALITIES, Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from lumabench.schemas import VARIANT_ROWS
from synth_variant import quick_training, write_variant

FAST = [
    *quick_training(6),
    "methods.mcd_text.samples=4",
    "methods.mcd_text.sigma_samples=4",
    "methods.mcd_fused.samples=4",
    "methods.mcd_fused.sigma_samples=4",
]
TREE = {
    "run": {"variants": ["clean"], "methods": ["mcd_text"], "seeds": [0]},
    "variants": {"definitions": {"clean": {"family": "clean"}, "switched": {"family": "clean"}}},
    "methods": {
        "mcd_text": {"kind": "mc_dropout", "modalities": ["text"], "dropout": 0.1},
        "mcd_fused": {"kind": "mc_dropout", "modalities": list(MODALITIES), "dropout": 0.1},
    },
}
RATE = 0.4


def _params() -> Params:
    return Params.model_validate(resolve_raw(TREE, parse_overrides(FAST)))


# ------------------------------------------------------------------ metrics
def test_ece_is_the_sum_over_the_shared_bins() -> None:
    g = np.random.default_rng(0)
    probs = g.dirichlet(np.ones(5) * 0.3, size=400)
    labels = g.integers(0, 5, size=400)
    count, acc, conf = M.calibration_bins(probs.max(1), probs.argmax(1) == labels, 15)
    assert count.sum() == 400 and len(count) == 15
    filled = count > 0
    assert M.ece(probs, labels) == pytest.approx(float(np.sum(count[filled] / 400 * np.abs(acc - conf)[filled])))
    # right-closed bins: a confidence of exactly 1/15 sits in the first bin, 0 too
    c, _, _ = M.calibration_bins(np.array([0.0, 1 / 15, 1 / 15 + 1e-9, 1.0]), np.ones(4, bool), 15)
    assert c[0] == 2 and c[1] == 1 and c[-1] == 1


def test_ece_hand_computed() -> None:
    # confidences 0.9 (right), 0.6 (wrong), 0.7 (right), 15 bins: three bins of one row each
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1])
    expected = (abs(1 - 0.9) + abs(0 - 0.6) + abs(1 - 0.7)) / 3
    assert M.ece(probs, labels) == pytest.approx(expected)


def test_accuracy_against_several_truths() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])  # predicts 0, 0, 1
    truths = np.array([[0, 1], [1, -1], [1, 1]])
    assert M.accuracy_any_truth(probs, truths) == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    # one truth per row: the ordinary accuracy
    assert M.accuracy_any_truth(probs, np.array([0, 1, 1])) == pytest.approx(M.accuracy(probs, np.array([0, 1, 1])))


# ------------------------------------------------------------------ a test split with switched labels
def _switch_test_labels(folder, rate: float) -> np.ndarray:
    """Relabel `rate` of the test rows to the next class; their three items keep their true class."""
    path = folder / "test.parquet"
    t = pq.read_table(path).to_pydict()
    n = len(t["sample_id"])
    rows = np.sort(np.random.default_rng(1).choice(n, size=round(rate * n), replace=False))
    ids = sorted({int(c) for c in t["class_id"]})
    for r in rows:
        cid = int(t["class_id"][r])
        new = ids[(ids.index(cid) + 1) % len(ids)]
        t["class_id"][r] = new
        t["label"][r] = luma_classes.NAMES[new]
        t["switched_modalities"][r] = list(MODALITIES)  # `<m>_label_original` keep the true class
        t["label_switched"][r] = True
        t["label_original"][r] = None
    table = pa.table({k: pa.array(v, VARIANT_ROWS.field(k).type) for k, v in t.items()})
    lio.write_parquet(path, table, VARIANT_ROWS)
    return rows


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("scoring")
    folder = write_variant(root, "switched", train_per_class=20, test_per_class=10, ood_per_class=6)
    _switch_test_labels(folder, RATE)
    return Paths(root, "mini")


def test_original_truth_reads_the_items_classes(paths: Paths) -> None:
    test = pq.read_table(paths.variant("switched") / "test.parquet").to_pydict()
    ids = list(test["sample_id"])
    truth = ldata.original_truth(paths, "switched", "test", ids[::-1])
    names = {c.name: c.id for c in luma_classes.CLASSES}
    for k, i in enumerate(range(len(ids) - 1, -1, -1)):  # rows come back in the order asked for
        want = [names[test[f"{m}_label_original"][i]] for m in MODALITIES]
        if not test["switched_modalities"][i]:
            want = [int(test["class_id"][i])] * 3
        assert truth[k].tolist() == want
    switched = np.array([bool(s) for s in test["switched_modalities"]])
    assert switched.mean() == pytest.approx(RATE, abs=0.02)
    assert (truth[::-1][switched, 2] != np.asarray(test["class_id"])[switched]).all()


def test_accuracy_against_original_and_switched_labels(paths: Paths) -> None:
    """A model that learned the true classes: original-label accuracy stays high, the switched-label
    accuracy falls by about the switch rate, by construction."""
    m = train.run(_params(), paths, "switched", "mcd_fused", 0)
    t = m["test"]
    assert t["acc_original"] >= 0.7, t
    assert t["acc"] == pytest.approx(t["acc_original"] * (1 - RATE), abs=0.08)
    pred = pq.read_table(paths.predictions("switched", "mcd_fused", 0)).to_pandas()
    test = pred[pred["split"] == "test"]
    assert t["acc"] == pytest.approx(float((test["pred"] == test["label"]).mean()), abs=1e-6)


def test_unimodal_model_is_not_scored_on_rows_without_its_modality(tmp_path) -> None:
    write_variant(tmp_path, "clean", train_per_class=20, test_per_class=10, ood_per_class=6,
                  missing={"image": 0.3, "audio": 0.3, "text": 0.3})  # fmt: skip
    paths = Paths(tmp_path, "mini")
    params = _params()
    test = ldata.load_split(paths, "clean", "test", params.train)
    ood = ldata.load_split(paths, "clean", "ood", params.train)
    has_text = test.present[:, 2].numpy()
    assert 0 < has_text.sum() < len(has_text)
    m = train.run(params, paths, "clean", "mcd_text", 0)
    assert m["test"]["n"] == int(has_text.sum())
    assert m["test"]["excluded"] == int((~has_text).sum())
    assert m["ood"]["excluded"] == int((~ood.present[:, 2].numpy()).sum())
    assert m["test"]["acc"] == m["test"]["acc_original"]  # no label was switched
    pred = pq.read_table(paths.predictions("clean", "mcd_text", 0)).to_pandas()
    kept = {sid for sid, h in zip(test.sample_id, has_text, strict=True) if h}
    assert set(pred.loc[pred["split"] == "test", "sample_id"]) == kept
    # no uniform "I saw nothing" rows left to pass as confident in-distribution predictions
    assert not np.isclose(pred["total"], np.log(luma_classes.N_ID), atol=1e-4).any()
