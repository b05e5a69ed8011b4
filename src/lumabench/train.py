"""Stage 7, `lumabench train -v VARIANT [-m METHOD ...] [-s SEED ...]`: fit, predict, score.

One process trains every given method x training seed of one variant in turn (default: the grid's
`run.methods` x `run.seeds`) over the variant's tensors, decoded once: on the mini corpus most
models train in seconds, and a process per model spent more time starting Python and torch and
loading data than training. Each (method, seed) is the same computation as a process of its own and
writes the same bytes. For each it writes the checkpoint (results/<profile>/models/V/M/seed-S.pt),
one prediction row per test and OOD sample (results/<profile>/predictions/V/M/seed-S.parquet) and the metrics JSON
(results/<profile>/metrics/V/M/seed-S.json) that the report stage reads. S is the training seed
(initialisation, data order, dropout and noise draws); the data and the validation split depend only
on the data seed `seed`. On CPU a rerun gives byte-identical checkpoint, predictions and metrics
(set `train.record_seconds: false` to drop the only wall-clock field, in the metrics and in the
checkpoint's `fit` record).

The three files are one set (`io.atomic_set`): the old set is removed, metrics first, and the new
one renamed into place, metrics last, so a metrics file always sits beside the model and
predictions of its own run, whenever the process is killed. A run whose predictions are not finite
or whose core test metrics are undefined fails with TrainingError and writes nothing.
"""

from __future__ import annotations

import io
import logging
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lumabench import classes as luma_classes
from lumabench import io as lio
from lumabench.data import Normaliser, SplitTensors, load_split, original_truth
from lumabench.determinism import deterministic
from lumabench.devices import resolve_device
from lumabench.errors import InputError, ParamsError, TrainingError
from lumabench.evaluate import metrics as M
from lumabench.methods.base import FitReport, Method, Prediction
from lumabench.methods.registry import load_all
from lumabench.params import LEVEL_SEP, MODALITIES, Params
from lumabench.paths import Paths
from lumabench.schemas import PREDICTION_EXTRAS, PREDICTIONS
from lumabench.seeding import rng

log = logging.getLogger(__name__)

DIGITS = 6


def validation_split(train: SplitTensors, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation row indices keyed by the data seed and class only.

    Not by variant, method or training seed: every variant of a sweep (same rows per class) holds
    out the same positions, so levels differ only in their data and seeds only in training.
    """
    labels = train.class_id.cpu().numpy()
    tr, va = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rows = rows[rng(seed, "train", "validation", int(c)).permutation(len(rows))]
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


def _mean(x: torch.Tensor) -> float:
    return float(x.double().mean()) if x.numel() else float("nan")


def _finite(x: torch.Tensor) -> np.ndarray:
    """The rows of an extra that hold a value (a missing modality's σ² is NaN in its row)."""
    a = x.double().numpy()
    return a[np.isfinite(a)]


def _is_uncertainty(extra: str) -> bool:
    """Extras that are uncertainty scores (scored for OOD detection); fusion weights are not."""
    return extra == "vacuity" or extra.startswith("sigma2_")


def _extras(p: Prediction) -> dict[str, torch.Tensor]:
    return dict(getattr(p, "extras", {}) or {})


def score(
    test: SplitTensors,
    ood: SplitTensors,
    pt: Prediction,
    po: Prediction,
    truth: np.ndarray | None = None,
    excluded: tuple[int, int] = (0, 0),
    modalities: list[str] | None = None,
) -> dict[str, Any]:
    """The `test`, `ood` and `per_modality` blocks of the metrics JSON.

    `test` and `ood` hold only the rows the model had an input for (`scorable`); `excluded` counts
    the rows left out of each. `acc` is scored against the variant's labels (after any label
    switching); `acc_original` against the original class of each item the model sees (`truth`
    [N, 3], one column per modality, from `data.original_truth`): they differ only where labels
    were switched. Every per-row quantity in `Prediction.extras` becomes a mean over the rows that
    hold it in both blocks; those that are uncertainty scores (RCML's vacuity, EAU's per-modality
    σ²) are also scored for OOD detection, beside, never instead of, the decomposition.
    """
    y = test.class_id.numpy()
    probs = pt.probs.double().numpy()
    present = test.present.numpy()
    if truth is None:
        truth = np.repeat(y[:, None], len(MODALITIES), 1)
    cols = [MODALITIES.index(m) for m in (modalities or MODALITIES)]
    seen = np.where(present, truth, -1)[:, cols]  # the true class of each item the model sees
    test_block: dict[str, float] = {
        **M.classification(probs, y),
        "acc_original": M.accuracy_any_truth(probs, seen),
        "aleatoric": _mean(pt.aleatoric),
        "epistemic": _mean(pt.epistemic),
        "total": _mean(pt.total),
    }
    ood_block: dict[str, float] = {
        "aleatoric": _mean(po.aleatoric),
        "epistemic": _mean(po.epistemic),
        "total": _mean(po.total),
    }
    for name in ("epistemic", "total"):
        det = M.ood_detection(getattr(pt, name).double().numpy(), getattr(po, name).double().numpy())
        ood_block.update({f"{k}_{name}": v for k, v in det.items()})
    empty = torch.zeros(0)
    for name, value in sorted(_extras(pt).items()):
        ood_value = _extras(po).get(name, empty)
        test_block[name] = float(np.mean(_finite(value))) if len(_finite(value)) else float("nan")
        ood_block[name] = float(np.mean(_finite(ood_value))) if len(_finite(ood_value)) else float("nan")
        if _is_uncertainty(name):
            det = M.ood_detection(_finite(value), _finite(ood_value))
            ood_block.update({f"{k}_{name}": v for k, v in det.items()})
    per: dict[str, Any] = {}
    for m, p in pt.per_modality.items():
        i = MODALITIES.index(m)
        have = present[:, i]
        head = p.probs.double().numpy()[have]
        block = M.classification(head, y[have])
        block["acc_original"] = M.accuracy_any_truth(head, truth[have, i])
        block["n"] = int(have.sum())
        per[m] = {k: (v if k == "n" else _r(v)) for k, v in block.items()}
    return {
        "test": {**_rounded(test_block), "n": len(test), "excluded": int(excluded[0])},
        "ood": {**_rounded(ood_block), "n": len(ood), "excluded": int(excluded[1])},
        "per_modality": per,
    }


def scorable(split: SplitTensors, modalities: list[str]) -> np.ndarray:
    """Rows that hold at least one of the model's modalities.

    A model is never scored on a row it has no input for: a unimodal model fed zeros for a missing
    modality predicts a constant, and those rows would count as confident or as "in-distribution
    certain" in every metric (LUMA's reference scores them). They are left out of the metrics and
    the predictions file, and the metrics JSON counts them (`excluded`).
    """
    return np.flatnonzero(split.present_any(modalities))


def prediction_table(splits: list[tuple[str, SplitTensors, Prediction]]) -> pa.Table:
    """One PREDICTIONS row per scored sample; `pred` names the arg-max in-distribution class.

    The optional columns (`schemas.PREDICTION_EXTRAS`: vacuity, per-modality σ², fusion weights) come
    from `Prediction.extras`; they are null for a method without them, and NaN (e.g. the σ² of a
    missing modality) is written as null.
    """
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
        extras = _extras(p)
        for k in PREDICTION_EXTRAS:
            v = extras.get(k)
            cols[k] += (
                [None if not math.isfinite(x) else x for x in v.float().numpy().tolist()]
                if v is not None
                else [None] * len(st)
            )
    cols["probs"] = [r.tolist() for r in cols["probs"]]
    return pa.table({n: pa.array(cols[n], type=PREDICTIONS.field(n).type) for n in PREDICTIONS.names})


def output_set(paths: Paths, variant: str, method: str, seed: int) -> list[Path]:
    """Model, predictions and metrics paths of one run (metrics last: it marks a complete set),
    refused if the variant or method name leads outside results/<profile>/ (e.g. `-v ../../x`)."""
    paths.confine(paths.variant(variant), "variant", "the command line (-v)")
    files = [paths.model(variant, method, seed), paths.predictions(variant, method, seed),
             paths.metrics(variant, method, seed)]  # fmt: skip
    return [paths.confine(f, "output", "the command line (-v/-m)", roots=[paths.results]) for f in files]


def check_predictions(method: str, variant: str, preds: list[tuple[str, Prediction]]) -> None:
    """Raise TrainingError if any probability or uncertainty is NaN/inf: its metrics would be fake."""
    for split, p in preds:
        for name in ("probs", "aleatoric", "epistemic", "total"):
            x = getattr(p, name)
            if x.numel() and not bool(torch.isfinite(x).all()):
                raise TrainingError(
                    f"{variant}/{method}: non-finite {name} on the {split} split; nothing written",
                    fix="check the inputs for NaN, or lower train.lr",
                )


def build_method(params: Params, method: str, text_dim: int, device: torch.device, seed: int) -> Method:
    """Instantiate the registered class for `params.methods[method].kind` under training seed `seed`.

    The key is the method alone, not the variant: for one seed every variant starts from the same
    initial weights and batch order, so a sweep's levels differ only by their data.
    """
    spec = params.methods[method]
    registry = load_all()
    if spec.kind not in registry:
        raise ParamsError(f"methods.{method}.kind: unknown kind {spec.kind!r}; known: {', '.join(sorted(registry))}")
    cls = registry[spec.kind]
    # an entry that evaluates another method's model (`weights_from`) trains, if it must, under that
    # method's key: the same initial weights and batch order, so the same model
    return cls(spec, params.train, luma_classes.N_ID, text_dim, device, seed, (spec.weights_from or method,))


def model_source(params: Params, paths: Paths, variant: str, method: str, seed: int) -> tuple[str, Path] | None:
    """(source, checkpoint) when the model to evaluate was trained already, else None (train here).

    Two declarations make a model someone else's:
    - a variant definition with `model_from: SOURCE` changes only test/OOD data. Its train split must
      then be byte-identical to SOURCE's (checked: anything else would evaluate a model of other
      data), and since initialisation and data order depend on (training seed, method) only,
      SOURCE's model is exactly the model training here would give;
    - a method with `weights_from: OTHER` differs from OTHER only in test-time settings (checked
      when params load), so OTHER's model of the same variant and seed is its model.
    If the checkpoint is not there yet (DVC runs stages in its own order) the same model is trained
    here instead, with the same result.
    """
    trainer = params.methods[method].weights_from or method
    src = params.model_from(variant)
    if src:
        mine, theirs = paths.variant(variant) / "train.parquet", paths.variant(src) / "train.parquet"
        if not theirs.is_file():
            log.info("%s: variant %s is not built; training the same model here", variant, src)
            return None
        if lio.sha256_file(mine) != lio.sha256_file(theirs):
            raise InputError(
                f"{variant} says model_from: {src}, but its train split differs from {src}'s",
                mine,
                f"remove model_from from variants.definitions of {variant.split(LEVEL_SEP)[0]}, "
                "or rebuild both variants",
            )
    where = src or variant
    if where == variant and trainer == method:
        return None
    ckpt = paths.model(where, trainer, seed)
    if not ckpt.is_file():
        log.info("%s: %s has no %s model for seed %d yet; training the same model here", variant, where, trainer, seed)
        return None
    return f"{where}/{trainer}", ckpt


def _same_scaling(a: Normaliser | None, b: Normaliser) -> bool:
    """Input scaling fitted on the same rows (to rounding: guards against other data, not digits)."""
    if a is None:
        return False
    x, y = (
        np.array([*a.image_mean, *a.image_std, a.audio_mean, a.audio_std]),
        np.array([*b.image_mean, *b.image_std, b.audio_mean, b.audio_std]),
    )
    return bool(np.allclose(x, y, rtol=1e-9, atol=0.0))


def _variant_of(source: str) -> str:
    return source.rpartition("/")[0] or source


def reuse(model: Method, source: tuple[str, Path], normaliser: Normaliser) -> FitReport:
    """Load the source variant's checkpoint into `model`; its fit report stands for this variant's."""
    src, path = source
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        model.load(ckpt)
    except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        fix = f"re-run `lumabench train -v {_variant_of(src)}`"
        raise InputError(f"unreadable checkpoint ({exc})", path, fix) from exc
    if not _same_scaling(model.normaliser, normaliser):
        raise InputError(
            "the checkpoint was fitted on other train data", path, f"re-run `lumabench train -v {_variant_of(src)}`"
        )
    model.module.to(model.device)
    fit = dict(ckpt.get("fit") or {})
    return FitReport(
        seconds=float(fit.get("seconds") or 0.0),
        epochs=int(fit.get("epochs", 0)),
        best_epoch=int(fit.get("best_epoch", 0)),
        best_val_loss=float(fit.get("best_val_loss", math.nan)),
    )


def load_variant(params: Params, paths: Paths, variant: str) -> dict[str, SplitTensors]:
    """The variant's train, test and OOD tensors (decoded once, or read from the tensor cache)."""
    return {s: load_split(paths, variant, s, params.train, params.features) for s in ("train", "test", "ood")}


def _check_job(params: Params, method: str, seed: int) -> None:
    if method not in params.methods:
        raise ParamsError(f"unknown method {method!r}; known: {', '.join(params.methods)}", fix="see params.yaml")
    if seed < 0:
        raise ParamsError(f"training seed must be >= 0, got {seed}", fix="pass a non-negative --seed")


def run_many(
    params: Params,
    paths: Paths,
    variant: str,
    methods: list[str] | tuple[str, ...] | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
) -> list[dict[str, Any]]:
    """Train every method x seed on `variant` in this process (default: the grid's, `run.methods_for`).

    Every name and seed is checked before any training, the tensors are loaded once, and each job
    writes its own output set as soon as it is done, so a killed process keeps the finished ones.
    """
    methods = list(methods or params.run.methods_for(variant))
    seeds = [int(s) for s in (seeds or params.run.seeds)]
    for m in methods:
        for s in seeds:
            _check_job(params, m, s)
            output_set(paths, variant, m, s)
    # a method that evaluates another's model (`weights_from`) runs after it, to load, not retrain, it
    order = sorted(dict.fromkeys(methods), key=lambda m: params.methods[m].weights_from is not None)
    jobs = [(m, s) for m in order for s in dict.fromkeys(seeds)]
    data = load_variant(params, paths, variant)
    out = []
    for i, (m, s) in enumerate(jobs, 1):
        log.info("[%d/%d] %s: %s, seed %d", i, len(jobs), variant, m, s)
        out.append(run(params, paths, variant, m, s, data=data))
    return out


def run(
    params: Params,
    paths: Paths,
    variant: str,
    method: str,
    seed: int | None = None,
    data: dict[str, SplitTensors] | None = None,
) -> dict[str, Any]:
    """Train `method` on `variant` with training seed `seed` (default: the first of `run.seeds`);
    write checkpoint, predictions and metrics; return the metrics. `data` is the variant's
    `load_variant` (loaded here when not given)."""
    seed = params.run.seeds[0] if seed is None else int(seed)
    _check_job(params, method, seed)
    spec = params.methods[method]
    cfg = params.train
    outputs = output_set(paths, variant, method, seed)
    device = torch.device(resolve_device(cfg.device, "train.device"))
    data = data if data is not None else load_variant(params, paths, variant)
    usable = data["train"].present_any(spec.modalities)
    if usable.sum() < 2:
        raise InputError(
            f"fewer than two train rows have any of {spec.modalities}", paths.variant(variant) / "train.parquet"
        )
    train_all = data["train"].subset(np.flatnonzero(usable))
    tr_idx, va_idx = validation_split(train_all, cfg.val_fraction, params.seed)
    tr, va = train_all.subset(tr_idx), train_all.subset(va_idx)
    normaliser = Normaliser.fit(tr, cfg)
    log.info("train %s on %s, seed %d: %d train, %d validation rows, device %s",
             method, variant, seed, len(tr), len(va), device)  # fmt: skip
    source = model_source(params, paths, variant, method, seed)
    with deterministic():
        model = build_method(params, method, int(tr.text.shape[1]), device, seed)
        if source is None:
            report = model.fit(tr.to(device), va.to(device), normaliser)
        else:  # the same model as training here would give: same train split, seed and method
            report = reuse(model, source, normaliser)
        test, ood = (data[s].subset(scorable(data[s], spec.modalities)) for s in ("test", "ood"))
        pt = model.predict_split(test.to(device), "test")
        po = model.predict_split(ood.to(device), "ood")
    check_predictions(method, variant, [("test", pt), ("ood", po)])
    excluded = (len(data["test"]) - len(test), len(data["ood"]) - len(ood))
    if any(excluded):
        log.info("%s on %s: %d test and %d OOD rows have none of %s and are not scored",
                 method, variant, *excluded, spec.modalities)  # fmt: skip
    truth = original_truth(paths, variant, "test", test.sample_id)
    metrics: dict[str, Any] = {
        "variant": variant,
        "method": method,
        "kind": spec.kind,
        "modalities": list(spec.modalities),
        "profile": params.profile,
        "seed": seed,
        "data_seed": params.seed,
        **score(test, ood, pt, po, truth, excluded, list(spec.modalities)),
        "train": {
            # the declared source, whether its checkpoint was loaded or the same model trained here
            "model_from": params.model_from(variant),
            "weights_from": spec.weights_from,
            "seconds": round(report.seconds, 2) if cfg.record_seconds else None,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "best_val_loss": _r(report.best_val_loss),
        },
    }
    undefined = [k for k in ("acc", "nll", "brier", "ece") if metrics["test"].get(k) is None]
    if undefined:
        raise TrainingError(
            f"{variant}/{method}/seed-{seed}: test metrics {', '.join(undefined)} are undefined; nothing written",
            paths.variant(variant),
            "check the variant's inputs for NaN (re-run `lumabench features` and `lumabench variants`)",
        )
    fit = {**vars(report), "seconds": report.seconds if cfg.record_seconds else None}
    # the train section too, so a later stage (robustness) can tell whether this is the model it needs
    ckpt = {"variant": variant, "method": method, "seed": seed, "data_seed": params.seed, "fit": fit,
            "train": cfg.model_dump(mode="json"), **model.checkpoint()}  # fmt: skip
    buf = io.BytesIO()  # from memory: torch.save(path) names its archive after the (random) temp file
    torch.save(ckpt, buf)
    table = prediction_table([("test", test, pt), ("ood", ood, po)])
    with lio.atomic_set(outputs) as (model_tmp, predictions_tmp, metrics_tmp):
        model_tmp.write_bytes(buf.getvalue())
        lio.write_parquet_to(predictions_tmp, table, PREDICTIONS)
        metrics_tmp.write_text(lio.dumps_json(metrics), "utf-8")
    t = metrics["test"]
    log.info("%s/%s/seed-%d: acc %.3f, nll %.3f, ece %.3f, OOD AUROC (epistemic) %s",
             variant, method, seed, t["acc"], t["nll"], t["ece"], metrics["ood"]["auroc_epistemic"])  # fmt: skip
    return metrics
