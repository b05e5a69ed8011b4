"""Read what the train stage wrote (metrics JSON, predictions Parquet) and check it before use.

Every run of `params.run.variants` x `params.run.methods` must be present: a report that silently
skips a missing cell would look complete while it is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lumabench.errors import InputError, ParamsError
from lumabench.io import read_json, read_parquet
from lumabench.params import LEVEL_SEP, Params, level_str
from lumabench.paths import Paths
from lumabench.schemas import PREDICTIONS

METRIC_SECTIONS = ("test", "ood", "train")


@dataclass(frozen=True)
class VariantInfo:
    """Where a variant sits in the benchmark: its definition, family and (for sweeps) its level."""

    name: str
    base: str
    family: str
    sweep: str | None
    level: float | None

    @property
    def is_sweep(self) -> bool:
        return self.sweep is not None


@dataclass(frozen=True)
class RunResult:
    """One trained (variant, method) cell: its metrics JSON and where its predictions live."""

    variant: VariantInfo
    method: str
    metrics: dict[str, Any]
    predictions_path: Path

    @property
    def key(self) -> str:
        return f"{self.variant.name}/{self.method}"

    def value(self, section: str, name: str) -> float:
        """A metric as float (NaN when absent), e.g. value("ood", "auroc_epistemic")."""
        raw = (self.metrics.get(section) or {}).get(name)
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else math.nan


def variant_info(params: Params, name: str) -> VariantInfo:
    """Family, sweep key and level of a run variant (`name` or `name-level`)."""
    base, _, level = name.partition(LEVEL_SEP)
    try:
        definition = params.variants.definitions[base]
    except KeyError:
        raise ParamsError(f"unknown variant {name!r} in run.variants", fix="see variants.definitions") from None
    if level:
        return VariantInfo(name, base, definition.family, definition.sweep_title(), float(level))
    return VariantInfo(name, base, definition.family, None, None)


def train_fix(variant: str, method: str) -> str:
    return f"run `lumabench train -v {variant} -m {method}` (or `make run`)"


def _check_metrics(data: Any, path: Path, variant: str, method: str) -> dict[str, Any]:
    fix = train_fix(variant, method)
    if not isinstance(data, dict):
        raise InputError("metrics file is not a JSON object", path, fix)
    for section in ("test", "ood"):
        if not isinstance(data.get(section), dict):
            raise InputError(f"metrics file has no {section!r} section", path, fix)
    if "acc" not in data["test"]:
        raise InputError("metrics file has no test accuracy ('test.acc')", path, fix)
    for key, want in (("variant", variant), ("method", method)):
        got = data.get(key, want)
        if got != want:
            raise InputError(f"metrics file says {key} {got!r}, expected {want!r}", path, fix)
    return data


def collect(params: Params, paths: Paths) -> list[RunResult]:
    """Every (variant, method) result of the run, in params order; missing files are InputErrors."""
    out: list[RunResult] = []
    for variant in params.run.variants:
        info = variant_info(params, variant)
        for method in params.run.methods:
            mpath = paths.metrics(variant, method)
            data = _check_metrics(read_json(mpath, train_fix(variant, method)), mpath, variant, method)
            ppath = paths.predictions(variant, method)
            if not ppath.is_file():
                raise InputError("missing predictions", ppath, train_fix(variant, method))
            out.append(RunResult(info, method, data, ppath))
    return out


def load_predictions(result: RunResult) -> pd.DataFrame:
    """The predictions of one run as a DataFrame with a boolean `correct` column."""
    table = read_parquet(result.predictions_path, PREDICTIONS, train_fix(result.variant.name, result.method))
    df = table.select(PREDICTIONS.names).to_pandas()
    bad = sorted(set(df["split"]) - {"test", "ood"})
    if bad:
        raise InputError(
            f"predictions have unknown split value(s) {bad}; expected test|ood",
            result.predictions_path,
            train_fix(result.variant.name, result.method),
        )
    df["correct"] = (df["pred"] == df["label"]).to_numpy()
    for col in ("confidence", "aleatoric", "epistemic", "total"):
        df[col] = df[col].astype(np.float64)
    return df


def flat_metrics(result: RunResult) -> dict[str, float]:
    """Every numeric metric as `section/name` (e.g. `test/acc`, `per_modality/image/acc`)."""
    out: dict[str, float] = {}
    for section in METRIC_SECTIONS:
        for name, value in sorted((result.metrics.get(section) or {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{section}/{name}"] = float(value)
    for modality, values in sorted((result.metrics.get("per_modality") or {}).items()):
        if isinstance(values, dict):
            for name, value in sorted(values.items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    out[f"per_modality/{modality}/{name}"] = float(value)
    return out


def sweeps(results: list[RunResult]) -> dict[str, list[VariantInfo]]:
    """Sweep base name -> its levels present in the run, sorted by level."""
    out: dict[str, list[VariantInfo]] = {}
    for r in results:
        if r.variant.is_sweep and r.variant not in out.get(r.variant.base, []):
            out.setdefault(r.variant.base, []).append(r.variant)
    return {k: sorted(v, key=lambda i: i.level if i.level is not None else 0.0) for k, v in out.items()}


def level_label(info: VariantInfo) -> str:
    return "" if info.level is None else level_str(info.level)
