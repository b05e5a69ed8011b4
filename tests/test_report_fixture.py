"""Fake-but-consistent train outputs for the report tests, and checks that the fixture is consistent.

`make_results` writes, for a small run (a clean variant, a three-level sweep and a sweep with one
level in this run), predictions Parquet and metrics JSON computed from those predictions, plus
a tiny variant test split with images, audio and provenance for the sample sheet. Accuracy falls
and uncertainty rises with the sweep level, as a trained model's would.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from lumabench.classes import CLASSES
from lumabench.io import write_json, write_parquet
from lumabench.native import media_cell
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.schemas import PREDICTION_EXTRAS, PREDICTIONS, VARIANT_ROWS
from lumabench.seeding import rng

ID_NAMES = [c.name for c in CLASSES if not c.ood]
OOD_NAMES = [c.name for c in CLASSES if c.ood]
VARIANTS = ["clean", "severity-1", "severity-3", "severity-5", "label_sweep-0.3"]
METHODS = ["mcd_image", "mcd_fused", "rcml_fused"]
SEEDS = [42, 43]  # training seeds (run.seeds); predictions are keyed by the training seed
SHEET_VARIANT = "severity-3"
N_TEST, N_OOD = 84, 40


def params_dict(variants: list[str] = VARIANTS, methods: list[str] = METHODS, seeds: list[int] = SEEDS) -> dict:
    return {
        "profile": "mini",
        "seed": 42,
        "run": {"variants": variants, "methods": methods, "seeds": list(seeds)},
        "variants": {
            "definitions": {
                "clean": {"family": "clean"},
                "conflict": {"family": "conflict", "test_rate": 0.4},
                "missing": {"family": "missing", "rate": {"image": {"test": 0.2}}},
                "severity": {
                    "family": "sample_noise",
                    "sweep": "image.severity",
                    "levels": [1, 3, 5],
                    "image": {"train": False, "test": True, "ratio": 1.0},
                },
                "label_sweep": {"family": "label_noise", "sweep": "rate.image.train", "levels": [0.1, 0.2, 0.3]},
            }
        },
        "methods": {
            "mcd_image": {"kind": "mc_dropout", "modalities": ["image"]},
            "mcd_fused": {"kind": "mc_dropout", "modalities": ["image", "audio", "text"]},
            "rcml_fused": {"kind": "rcml", "modalities": ["image", "audio", "text"]},
        },
        "report": {"dpi": 60, "sample_sheet_rows": 4},
    }


def make_params(variants: list[str] = VARIANTS, methods: list[str] = METHODS, seeds: list[int] = SEEDS) -> Params:
    return Params.model_validate(params_dict(variants, methods, seeds))


def _difficulty(variant: str) -> float:
    """0 for clean; grows with the sweep level so the curves have a direction."""
    base, _, level = variant.partition("-")
    return {"clean": 0.0, "conflict": 0.8}.get(base, 0.0) + (float(level) / 3.0 if level else 0.0)


def switch_rate(variant: str) -> float:
    """The label-switch rate of a fixture variant (the level of `label_sweep`, else 0)."""
    base, _, level = variant.partition("-")
    return float(level) if base == "label_sweep" else 0.0


def original_labels() -> list[str]:
    """The true class of every test and OOD row, before any row is left out."""
    return [ID_NAMES[i % len(ID_NAMES)] for i in range(N_TEST)] + [OOD_NAMES[i % 8] for i in range(N_OOD)]


def variant_labels(data_seed: int, variant: str) -> list[str]:
    """The labels the variant gives: round(rate x N_TEST) test rows switched to the next class.

    Data-level, so the same for every training seed; the model still sees the original class.
    """
    labels = original_labels()
    k = round(switch_rate(variant) * N_TEST)
    for i in rng(data_seed, "fixture", "switch", variant).choice(N_TEST, size=k, replace=False):
        labels[i] = ID_NAMES[(ID_NAMES.index(labels[i]) + 1) % len(ID_NAMES)]
    return labels


def scored_rows(variant: str, method: str, params: Params | None = None) -> np.ndarray:
    """Rows a model can score: a unimodal model on `missing` has no input for every 5th row."""
    keep = np.ones(N_TEST + N_OOD, dtype=bool)
    params = params or make_params()
    if variant.partition("-")[0] == "missing" and len(params.methods[method].modalities) == 1:
        keep[::5] = False
    return keep


def _run(seed: int, variant: str, method: str, data_seed: int = 42) -> tuple[pa.Table, list[str], tuple[int, int]]:
    """One run's predictions (scored rows only), the original labels of those rows and the excluded counts."""
    gen = rng(seed, "fixture", variant, method)
    strength = {"mcd_image": 2.5, "mcd_fused": 4.0, "rcml_fused": 3.5}.get(method, 3.0) - _difficulty(variant)
    n = N_TEST + N_OOD
    truth = original_labels()
    labels = variant_labels(data_seed, variant)
    logits = gen.normal(0.0, 1.0, size=(n, len(ID_NAMES)))
    for i in range(N_TEST):
        logits[i, ID_NAMES.index(truth[i])] += strength
    logits[N_TEST:] *= 0.5
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    total = -(probs * np.log(probs)).sum(axis=1)
    epistemic = np.abs(gen.normal(0.3 + 0.1 * _difficulty(variant), 0.15, size=n))
    epistemic[N_TEST:] += 0.25
    epistemic = np.round(epistemic, 2)  # ties, as a coarse score would give
    evidence = np.logaddexp(0.0, logits).sum(axis=1)  # softplus evidence, as RCML's
    vacuity = len(ID_NAMES) / (len(ID_NAMES) + evidence) if method.startswith("rcml") else None
    pred_idx = probs.argmax(axis=1)
    keep = scored_rows(variant, method)
    split = np.array(["test"] * N_TEST + ["ood"] * N_OOD)
    table = pa.table(
        {
            "sample_id": [f"{variant}-{i:04d}" for i in range(n)],
            "split": split.tolist(),
            "label": labels,
            "pred": [ID_NAMES[j] for j in pred_idx],
            "probs": [row.astype(np.float32).tolist() for row in probs],
            "confidence": probs.max(axis=1).astype(np.float32),
            "aleatoric": (total - epistemic.clip(0, None) * 0.1).astype(np.float32),
            "epistemic": epistemic.astype(np.float32),
            "total": total.astype(np.float32),
            "vacuity": pa.array(vacuity.astype(np.float32) if vacuity is not None else [None] * n, pa.float32()),
            **{k: pa.array([None] * n, pa.float32()) for k in PREDICTION_EXTRAS if k != "vacuity"},
        },
        schema=PREDICTIONS,
    ).filter(pa.array(keep))
    excluded = (int((~keep & (split == "test")).sum()), int((~keep & (split == "ood")).sum()))
    return table, [t for t, k in zip(truth, keep, strict=True) if k], excluded


def make_predictions(seed: int, variant: str, method: str) -> pa.Table:
    return _run(seed, variant, method)[0]


def ece_right_closed(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE over bins (0, 1/15], ..., (14/15, 1] (Guo et al., ICML 2017), written out bin by bin."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (conf > lo) & (conf <= hi) if b else (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def metrics_from(
    table: pa.Table,
    variant: str,
    method: str,
    params: Params,
    seed: int = SEEDS[0],
    truth: list[str] | None = None,
    excluded: tuple[int, int] = (0, 0),
) -> dict:
    """The metrics JSON the train stage writes, computed independently (sklearn) from predictions."""
    df = table.to_pandas()
    test, ood = df[df.split == "test"], df[df.split == "ood"]
    correct = (test.pred == test.label).to_numpy()
    originals = np.array(truth[: len(test)] if truth is not None else test.label.tolist())
    correct_original = test.pred.to_numpy() == originals
    probs = np.stack(test.probs.to_numpy())
    y = np.array([ID_NAMES.index(lbl) for lbl in test.label])
    onehot = np.eye(len(ID_NAMES))[y]
    conf = test.confidence.to_numpy(np.float64)
    is_ood = np.r_[np.zeros(len(test)), np.ones(len(ood))]

    def ood_scores(col: str) -> dict[str, float]:
        s = np.r_[test[col].to_numpy(np.float64), ood[col].to_numpy(np.float64)]
        thr = np.quantile(ood[col].to_numpy(np.float64), 0.05)
        return {
            f"auroc_{col}": float(roc_auc_score(is_ood, s)),
            f"aupr_{col}": float(average_precision_score(is_ood, s)),
            f"fpr95_{col}": float((test[col].to_numpy(np.float64) >= thr).mean()),
        }

    method_def = params.methods[method]
    vacuity = {"vacuity": float(test.vacuity.mean())} if test.vacuity.notna().any() else {}
    vacuity_ood = {"vacuity": float(ood.vacuity.mean())} if ood.vacuity.notna().any() else {}
    return {
        "variant": variant,
        "method": method,
        "kind": method_def.kind,
        "modalities": list(method_def.modalities),
        "profile": params.profile,
        "seed": seed,
        "data_seed": params.seed,
        "test": {
            "acc": float(correct.mean()),
            "acc_original": float(correct_original.mean()),
            "nll": float(-np.log(probs[np.arange(len(y)), y]).mean()),
            "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
            "ece": ece_right_closed(conf, correct.astype(np.float64)),
            "aleatoric": float(test.aleatoric.mean()),
            "epistemic": float(test.epistemic.mean()),
            "total": float(test.total.mean()),
            **vacuity,
            "n": len(test),
            "excluded": excluded[0],
        },
        "ood": {
            "aleatoric": float(ood.aleatoric.mean()),
            "epistemic": float(ood.epistemic.mean()),
            "total": float(ood.total.mean()),
            **vacuity_ood,
            "n": len(ood),
            "excluded": excluded[1],
            **ood_scores("epistemic"),
            **ood_scores("total"),
        },
        "per_modality": (
            {m: {"acc": round(float(correct.mean()) - 0.05 * k, 4)} for k, m in enumerate(method_def.modalities)}
            if len(method_def.modalities) > 1
            else {}
        ),
        "train": {"seconds": 12.5, "epochs": 20, "best_epoch": 14, "best_val_loss": 1.2345},
    }


def _png(gen: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gen.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _wav(gen: np.random.Generator, freq: float) -> bytes:
    t = np.arange(int(0.4 * 16000)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * gen.normal(size=t.size)
    buf = io.BytesIO()
    soundfile.write(buf, wave.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_variant_rows(seed: int, n: int = 8) -> pa.Table:
    """A tiny test split with every provenance column used at least once."""
    gen = rng(seed, "fixture", "variant_rows")
    rows = []
    for i in range(n):
        label = ID_NAMES[i]
        missing = ["audio"] if i == 5 else []
        rows.append(
            {
                "sample_id": f"s{i:03d}",
                "split": "test",
                "label": label,
                "class_id": i,
                "image": media_cell(_png(gen)),
                "audio": None if missing else media_cell(_wav(gen, 200.0 + 60 * i)),
                "text": f"A short | passage about a {label} with the word {label} twice, and more filler words here.",
                "image_id": f"img{i}",
                "clip_id": f"clip{i}",
                "text_id": f"txt{i}",
                "image_noise": "gaussian_noise" if i % 2 == 0 else None,
                "image_severity": 3 if i % 2 == 0 else None,
                "audio_noise": "raw/noise/rain.wav" if i == 1 else None,
                "audio_snr_db": 4.5 if i == 1 else None,
                "text_noise": "keyboard" if i == 3 else None,
                "label_original": None if i == 7 else label,
                "image_label_original": ID_NAMES[i + 1] if i == 7 else label,
                "audio_label_original": label,
                "text_label_original": label,
                "switched_modalities": ["image"] if i == 7 else [],
                "label_switched": i == 7,
                "conflict_modality": "audio" if i == 6 else None,
                "missing_modalities": missing,
            }
        )
    return pa.Table.from_pylist(rows, schema=VARIANT_ROWS)


@dataclass(frozen=True)
class Fixture:
    params: Params
    paths: Paths


def make_results(root: Path, params: Params | None = None, sheet: bool = True) -> Fixture:
    """Write metrics, predictions (and a sample-sheet variant) for `params` under `root`."""
    params = params or make_params()
    paths = Paths(root, params.profile)
    for v in params.run.variants:
        for m in params.run.methods:
            for s in params.run.seeds:
                table, truth, excluded = _run(s, v, m, params.seed)
                write_parquet(paths.predictions(v, m, s), table, PREDICTIONS)
                write_json(paths.metrics(v, m, s), metrics_from(table, v, m, params, s, truth, excluded))
    if sheet and SHEET_VARIANT in params.run.variants:
        write_parquet(paths.variant(SHEET_VARIANT) / "test.parquet", make_variant_rows(params.seed), VARIANT_ROWS)
    return Fixture(params, paths)


def run_report(fx: Fixture, uri: str | None = None) -> object:
    """Run the stage with MLFLOW_TRACKING_URI set to `uri` (or unset: the profile's sqlite file)."""
    from lumabench.report import run

    old = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        if uri:
            os.environ["MLFLOW_TRACKING_URI"] = uri
        return run(fx.params, fx.paths)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if old is not None:
            os.environ["MLFLOW_TRACKING_URI"] = old


def snapshot(paths: Paths) -> dict[str, bytes]:
    """Every report output file's bytes, keyed by path relative to the results dir."""
    out = {}
    for p in [paths.report_html, paths.metrics_summary]:
        out[p.name] = p.read_bytes()
    for d in (paths.tables, paths.figures):
        for f in sorted(d.rglob("*")):
            if f.is_file():
                out[f.relative_to(paths.results).as_posix()] = f.read_bytes()
    return out


_SHARED: dict[str, dict] = {}


@pytest.fixture(scope="session")
def reported_twice(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fixture run reported twice into the default sqlite store (idempotence, determinism).

    Several test modules import this fixture; the result is computed once per session.
    """
    if "run" not in _SHARED:
        fx = make_results(tmp_path_factory.mktemp("report"))
        first = run_report(fx)
        snap1 = snapshot(fx.paths)
        second = run_report(fx)
        _SHARED["run"] = {"fx": fx, "first": first, "second": second, "snap1": snap1, "snap2": snapshot(fx.paths)}
    return _SHARED["run"]


# ---------------------------------------------------------------- the fixture itself is consistent
def test_fixture_metrics_match_predictions(tmp_path: Path) -> None:
    params = make_params(["clean", "severity-5"], ["mcd_image"])
    fx = make_results(tmp_path, params, sheet=False)
    for v in ("clean", "severity-5"):
        metrics = json.loads(fx.paths.metrics(v, "mcd_image", 42).read_text())
        df = make_predictions(42, v, "mcd_image").to_pandas()
        test = df[df.split == "test"]
        assert metrics["test"]["acc"] == pytest.approx((test.pred == test.label).mean())
        assert 0.5 < metrics["ood"]["auroc_epistemic"] <= 1.0
        assert not math.isnan(metrics["test"]["ece"])
    clean = json.loads(fx.paths.metrics("clean", "mcd_image", 42).read_text())["test"]["acc"]
    noisy = json.loads(fx.paths.metrics("severity-5", "mcd_image", 42).read_text())["test"]["acc"]
    assert clean > noisy
