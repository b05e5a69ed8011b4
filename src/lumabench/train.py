"""Stage 7, `lumabench train -v VARIANT -m METHOD`: fit one method, predict test and OOD, score.

Writes the checkpoint (results/<profile>/models/V/M.pt), one prediction row per test and OOD sample
(results/<profile>/predictions/V/M.parquet) and the metrics JSON (results/<profile>/metrics/V/M.json)
that the report stage reads. On CPU a rerun gives byte-identical predictions and metrics (set
`train.record_seconds: false` to drop the only wall-clock field).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lumabench import classes as luma_classes
from lumabench import io as lio
from lumabench.data import Normaliser, SplitTensors, load_split
from lumabench.determinism import deterministic
from lumabench.devices import resolve_device
from lumabench.errors import InputError, ParamsError
from lumabench.evaluate import metrics as M
from lumabench.methods.base import Method, Prediction
from lumabench.methods.registry import load_all
from lumabench.params import MODALITIES, Params
from lumabench.paths import Paths
from lumabench.schemas import PREDICTIONS
from lumabench.seeding import rng

log = logging.getLogger(__name__)

DIGITS = 6


def validation_split(train: SplitTensors, fraction: float, seed: int, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified seeded train/validation row indices (the same for every method of a variant)."""
    labels = train.class_id.cpu().numpy()
    tr, va = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rows = rows[rng(seed, "train", variant, "validation", int(c)).permutation(len(rows))]
        k = round(fraction * len(rows))
        k = min(max(k, 1), len(rows) - 1) if len(rows) > 1 else 0
        va.append(rows[:k])
        tr.append(rows[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


def _r(x: float) -> float | None:
    """Round for stable JSON; NaN (undefined, e.g. no OOD rows) becomes null."""
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, DIGITS)


def _rounded(d: dict[str, float]) -> dict[str, float | None]:
    return {k: _r(v) for k, v in d.items()}


def score(test: SplitTensors, ood: SplitTensors, pt: Prediction, po: Prediction) -> dict[str, Any]:
    """The `test`, `ood` and `per_modality` blocks of the metrics JSON."""
    y = test.class_id.numpy()
    probs = pt.probs.double().numpy()
    test_block = {
        **M.classification(probs, y),
        "aleatoric": float(pt.aleatoric.double().mean()),
        "epistemic": float(pt.epistemic.double().mean()),
        "total": float(pt.total.double().mean()),
    }
    ood_block: dict[str, float] = {
        "aleatoric": float(po.aleatoric.double().mean()) if len(ood) else float("nan"),
        "epistemic": float(po.epistemic.double().mean()) if len(ood) else float("nan"),
        "total": float(po.total.double().mean()) if len(ood) else float("nan"),
    }
    for name in ("epistemic", "total"):
        det = M.ood_detection(getattr(pt, name).double().numpy(), getattr(po, name).double().numpy())
        ood_block.update({f"{k}_{name}": v for k, v in det.items()})
    per: dict[str, Any] = {}
    for m, p in pt.per_modality.items():
        have = test.present[:, MODALITIES.index(m)].numpy()
        block = M.classification(p.probs.double().numpy()[have], y[have])
        block["n"] = int(have.sum())
        per[m] = {k: (v if k == "n" else _r(v)) for k, v in block.items()}
    return {
        "test": {**_rounded(test_block), "n": len(test)},
        "ood": {**_rounded(ood_block), "n": len(ood)},
        "per_modality": per,
    }


def prediction_table(splits: list[tuple[str, SplitTensors, Prediction]]) -> pa.Table:
    """One PREDICTIONS row per sample; `pred` names the arg-max in-distribution class."""
    cols: dict[str, list[Any]] = {n: [] for n in PREDICTIONS.names}
    for name, st, p in splits:
        probs = p.probs.float().numpy()
        arg = probs.argmax(1)
        cols["sample_id"] += st.sample_id
        cols["split"] += [name] * len(st)
        cols["label"] += st.label
        cols["pred"] += [luma_classes.CLASSES[i].name for i in arg]
        cols["probs"] += [row for row in probs]
        cols["confidence"] += probs.max(1).tolist()
        for k in ("aleatoric", "epistemic", "total"):
            cols[k] += getattr(p, k).float().numpy().tolist()
    cols["probs"] = [r.tolist() for r in cols["probs"]]
    return pa.table({n: pa.array(cols[n], type=PREDICTIONS.field(n).type) for n in PREDICTIONS.names})


def build_method(params: Params, method: str, text_dim: int, device: torch.device, variant: str) -> Method:
    """Instantiate the registered class for `params.methods[method].kind`."""
    spec = params.methods[method]
    registry = load_all()
    if spec.kind not in registry:
        raise ParamsError(f"methods.{method}.kind: unknown kind {spec.kind!r}; known: {', '.join(sorted(registry))}")
    cls = registry[spec.kind]
    return cls(spec, params.train, luma_classes.N_ID, text_dim, device, params.seed, (variant, method))


def run(params: Params, paths: Paths, variant: str, method: str) -> dict[str, Any]:
    """Train `method` on `variant`; write checkpoint, predictions and metrics; return the metrics."""
    if method not in params.methods:
        raise ParamsError(f"unknown method {method!r}; known: {', '.join(params.methods)}", fix="see params.yaml")
    spec = params.methods[method]
    cfg = params.train
    device = torch.device(resolve_device(cfg.device, "train.device"))
    data = {s: load_split(paths, variant, s, cfg, params.features) for s in ("train", "test", "ood")}
    usable = data["train"].present_any(spec.modalities)
    if usable.sum() < 2:
        raise InputError(
            f"fewer than two train rows have any of {spec.modalities}", paths.variant(variant) / "train.parquet"
        )
    train_all = data["train"].subset(np.flatnonzero(usable))
    tr_idx, va_idx = validation_split(train_all, cfg.val_fraction, params.seed, variant)
    tr, va = train_all.subset(tr_idx), train_all.subset(va_idx)
    normaliser = Normaliser.fit(tr, cfg)
    log.info("train %s on %s: %d train, %d validation rows, device %s", method, variant, len(tr), len(va), device)
    with deterministic():
        model = build_method(params, method, int(tr.text.shape[1]), device, variant)
        report = model.fit(tr.to(device), va.to(device), normaliser)
        pt = model.predict_split(data["test"].to(device), "test")
        po = model.predict_split(data["ood"].to(device), "ood")
    metrics: dict[str, Any] = {
        "variant": variant,
        "method": method,
        "kind": spec.kind,
        "modalities": list(spec.modalities),
        "profile": params.profile,
        "seed": params.seed,
        **score(data["test"], data["ood"], pt, po),
        "train": {
            "seconds": round(report.seconds, 2) if cfg.record_seconds else None,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "best_val_loss": _r(report.best_val_loss),
        },
    }
    ckpt = {"variant": variant, "method": method, "fit": vars(report), **model.checkpoint()}
    with lio.atomic_path(paths.model(variant, method), ".pt") as tmp:
        torch.save(ckpt, tmp)
    table = prediction_table([("test", data["test"], pt), ("ood", data["ood"], po)])
    lio.write_parquet(paths.predictions(variant, method), table, PREDICTIONS)
    lio.write_json(paths.metrics(variant, method), metrics)
    t = metrics["test"]
    log.info("%s/%s: acc %.3f, nll %.3f, ece %.3f, OOD AUROC (epistemic) %s",
             variant, method, t["acc"], t["nll"], t["ece"], metrics["ood"]["auroc_epistemic"])  # fmt: skip
    return metrics
