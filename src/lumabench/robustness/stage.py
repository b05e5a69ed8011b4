"""`lumabench robustness`: the A→B matrices, the two interventions, and their summary (see the package).

Everything random derives from the data seed (rows, validation split) and the training seeds
(`robustness.seeds`, default `run.seeds`: initialisation, data order, dropout, prediction draws),
so the same params give byte-identical files (with `train.record_seconds: false`, which drops the
only wall-clock fields). The folder is replaced as a whole when every run is done.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from lumabench import io as lio
from lumabench.data import SplitTensors
from lumabench.determinism import deterministic
from lumabench.devices import resolve_device
from lumabench.methods.base import Method
from lumabench.modality_sets import set_name
from lumabench.params import MODALITIES, Params, canonical_set
from lumabench.paths import Paths, seed_name
from lumabench.robustness import summary as S
from lumabench.robustness import wise_ft as W
from lumabench.robustness.deployment import Deployment
from lumabench.robustness.training import TrainingRows, build, fit, fit_record, ordinary, restricted, training_rows
from lumabench.train import load_variant

log = logging.getLogger(__name__)


def method_run(
    params: Params,
    paths: Paths,
    data: dict[str, SplitTensors],
    method: str,
    seed: int,
    device: torch.device,
    ordinary_only: bool = False,
) -> dict[str, Any]:
    """Every number of one method and training seed: its matrix, the distilled row and the WiSE-FT curve
    (`ordinary_only`, a `robustness.compare` method: the row of the model trained on all three only)."""
    r = params.robustness
    variant = r.variant
    spec = params.methods[method]
    rows = training_rows(params, paths, variant, data, list(spec.modalities), device)
    full = canonical_set(tuple(spec.modalities))
    train_sets, test_sets = ([full] if ordinary_only else r.sets("train")), r.sets("test")
    label = f"{variant}/{method}/seed-{seed}"
    fits: dict[str, Any] = {}
    matrix: dict[str, Any] = {}
    old = canonical_set(tuple(r.wise_ft.old)) if r.wise_ft is not None else None
    theta0: Method | None = None
    record = params.train.record_seconds
    for a in train_sets:
        if a == full:
            model, report, reused = ordinary(params, paths, variant, method, rows, device, seed)
        else:
            model = build(restricted(params, method, a), method, rows, device, seed)
            report, reused = fit(model, rows), False
        log.info("%s trained on %s: %d epochs%s", label, set_name(a), report.epochs, " (train stage's model)" * reused)
        fits[set_name(a)] = fit_record(report, reused, record)
        dep = Deployment(model, data["test"], f"{label} trained on {set_name(a)}")
        matrix[set_name(a)] = {set_name(b): dep.cell(b) for b in test_sets}
        if a == old:
            theta0 = model
    out: dict[str, Any] = {
        "variant": variant,
        "method": method,
        "kind": spec.kind,
        "profile": params.profile,
        "seed": seed,
        "data_seed": params.seed,
        "train_sets": [set_name(a) for a in train_sets],
        "test_sets": [set_name(b) for b in test_sets],
        "matrix": matrix,
        "distill": None,
        "wise_ft": None,
        "fit": fits,
    }
    if ordinary_only:
        return out
    if r.distill is not None:
        model = build(restricted(params, method, full, distill=r.distill), method, rows, device, seed)
        report = fit(model, rows)
        fits["distill"] = fit_record(report, False, record)
        dep = Deployment(model, data["test"], f"{label} self-distilled")
        row = {set_name(b): dep.cell(b) for b in test_sets}
        out["distill"] = {"weight": r.distill.weight, "temperature": r.distill.temperature, "row": row}
        log.info("%s self-distilled: %d epochs", label, report.epochs)
    if r.wise_ft is not None:
        out["wise_ft"] = wise_ft_curve(params, method, seed, rows, data["test"], theta0, fits, label)
    return out


def wise_ft_curve(
    params: Params,
    method: str,
    seed: int,
    rows: TrainingRows,
    test: SplitTensors,
    theta0: Method | None,
    fits: dict[str, Any],
    label: str,
) -> dict[str, Any]:
    """θ₀ (trained on old; the matrix's model when old is a training set), θ₁ (θ₀ fine-tuned on new)
    and the cells of θ_α on the old and the new set for every α (module `wise_ft`)."""
    cfg = params.robustness.wise_ft
    assert cfg is not None
    old, new = canonical_set(tuple(cfg.old)), canonical_set(tuple(cfg.new))
    record = params.train.record_seconds
    if theta0 is None:
        theta0 = build(restricted(params, method, old), method, rows, rows.train.class_id.device, seed)
        fits[f"wise_ft {set_name(old)}"] = fit_record(fit(theta0, rows), False, record)
    _, ft = W.fine_tune(params, method, seed, rows, theta0)
    fits[f"wise_ft {set_name(old)} → {set_name(new)}"] = fit_record(ft.report, False, record)
    log.info("%s fine-tuned from %s to %s: %d epochs", label, set_name(old), set_name(new), ft.report.epochs)
    curve = []
    for alpha in cfg.alphas:
        dep = Deployment(W.at_alpha(params, method, seed, rows, ft, alpha), test, f"{label} WiSE-FT α = {alpha:g}")
        curve.append(W.curve_point(alpha, dep.cell(old), dep.cell(new)))
    return {
        "old": set_name(old),
        "new": set_name(new),
        "report_alpha": cfg.report_alpha,
        "max_epochs": cfg.max_epochs,
        "lr": cfg.lr,
        "curve": curve,
    }


def summarise(params: Params, runs: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """summary.json: per method the seed-aggregated matrices, robustness table, losing-one-modality
    numbers and WiSE-FT curve, and which method is most robust to losing each modality."""
    r = params.robustness
    methods: dict[str, Any] = {}
    for method in r.all_methods():
        own = [v for (m, _), v in sorted(runs.items()) if m == method]
        if not own:
            continue
        methods[method] = {
            "seeds": [v["seed"] for v in own],
            "train_sets": own[0]["train_sets"],
            "test_sets": own[0]["test_sets"],
            "matrix": S.matrix_stats(own),
            "distill": S.distill_row(own),
            "robustness": S.robustness_table(own),
            "losing": S.losing(own),
            "wise_ft": S.wise_curve(own),
        }
    choice, sentence = S.most_robust(methods)
    return {
        "variant": r.variant,
        "profile": params.profile,
        "full_set": set_name(MODALITIES),
        "seeds": r.training_seeds(params.run),
        "methods": methods,
        "most_robust": choice,
        "sentence": sentence,
    }


def run(params: Params, paths: Paths) -> dict[str, Any]:
    """Train, deploy and summarise every method x seed of `robustness`; write the folder; return the summary."""
    r = params.robustness
    paths.confine(paths.variant(r.variant), "variant", "params.yaml robustness.variant")
    out_dir = paths.confine(paths.robustness, "output", "params.yaml", roots=[paths.results])
    device = torch.device(resolve_device(params.train.device, "train.device"))
    start = time.perf_counter()
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    if r.all_methods():
        data = load_variant(params, paths, r.variant)
        with deterministic():
            for method in r.all_methods():
                for seed in r.training_seeds(params.run):
                    only = method in r.compare
                    runs[(method, seed)] = method_run(params, paths, data, method, seed, device, only)
    else:
        log.info("robustness.methods and robustness.compare are empty: writing an empty summary")
    summary = summarise(params, runs)
    summary["seconds"] = round(time.perf_counter() - start, 1) if params.train.record_seconds else None
    with lio.atomic_dir(out_dir) as tmp:
        for (method, seed), numbers in runs.items():
            (tmp / method).mkdir(exist_ok=True)
            (tmp / method / seed_name(seed, ".json")).write_text(lio.dumps_json(numbers), "utf-8")
        (tmp / "summary.json").write_text(lio.dumps_json(summary), "utf-8")
    log.info("robustness: %s", summary["sentence"])
    return summary
