"""Read what the train stage wrote (metrics JSON, predictions Parquet) and check it before use.

Every run of the grid (`params.run.cells()`: variants x their methods x seeds) must be present: a
report that silently skips a missing cell (or seed) would look complete while it is not.
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
from lumabench.paths import Paths, seed_name
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
    """One trained (variant, method, training seed) run: its metrics JSON and where its predictions live."""

    variant: VariantInfo
    method: str
    seed: int
    metrics: dict[str, Any]
    predictions_path: Path

    @property
    def key(self) -> str:
        """`variant/method/seed-S`, unique within a report (the same stem as the run's files)."""
        return f"{self.variant.name}/{self.method}/{seed_name(self.seed)}"

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


def train_fix(variant: str, method: str, seed: int) -> str:
    return f"run `lumabench train -v {variant} -m {method} -s {seed}` (or `make run`)"


def _check_metrics(data: Any, path: Path, variant: str, method: str, seed: int) -> dict[str, Any]:
    fix = train_fix(variant, method, seed)
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
    # the seed is required: a file without one predates training seeds and may hold another seed's run
    got = data.get("seed")
    if isinstance(got, bool) or not isinstance(got, int) or got != seed:
        raise InputError(f"metrics file says seed {got!r}, expected training seed {seed}", path, fix)
    return data


def collect(params: Params, paths: Paths) -> list[RunResult]:
    """Every (variant, method, seed) result of the run, ordered variants x methods x seeds as in params.

    A missing or inconsistent file is an InputError naming the `lumabench train` call that makes it.
    """
    out: list[RunResult] = []
    infos = {v: variant_info(params, v) for v in params.run.variants}
    for variant, method, seed in params.run.cells():
        fix = train_fix(variant, method, seed)
        mpath = paths.metrics(variant, method, seed)
        data = _check_metrics(read_json(mpath, fix), mpath, variant, method, seed)
        ppath = paths.predictions(variant, method, seed)
        if not ppath.is_file():
            raise InputError("missing predictions", ppath, fix)
        out.append(RunResult(infos[variant], method, seed, data, ppath))
    return out


def load_predictions(result: RunResult) -> pd.DataFrame:
    """The predictions of one run as a DataFrame with a boolean `correct` column."""
    fix = train_fix(result.variant.name, result.method, result.seed)
    table = read_parquet(result.predictions_path, PREDICTIONS, fix)
    df = table.select(PREDICTIONS.names).to_pandas()
    bad = sorted(set(df["split"]) - {"test", "ood"})
    if bad:
        raise InputError(
            f"predictions have unknown split value(s) {bad}; expected test|ood",
            result.predictions_path,
            fix,
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
