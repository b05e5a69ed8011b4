"""Curve data for `dvc plots`: wide CSV files with fixed x fields, one y column per method.

DVC draws one line per y field, so every series sits in its own column: ROC files hold the TPR of
each method on a fixed FPR grid; sweep files hold `acc_<method>`, `aleatoric_<method>` and
`epistemic_<method>` per sweep level. `dvc_plot_definitions` gives the matching dvc.yaml entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lumabench.io import write_text
from lumabench.params import LEVEL_SEP, Params
from lumabench.report.collect import RunResult, VariantInfo
from lumabench.report.curves import ROC_GRID, Roc, roc_on_grid
from lumabench.report.figures import slug

PLOTS_DIR = "plots"
SWEEP_QUANTITIES = (("acc", "test", "acc"), ("aleatoric", "test", "aleatoric"), ("epistemic", "test", "epistemic"))


def roc_file(variant: str) -> str:
    return f"{PLOTS_DIR}/roc_{slug(variant)}.csv"


def sweep_file(base: str) -> str:
    return f"{PLOTS_DIR}/sweep_{base}.csv"


def roc_frame(rocs: dict[str, Roc]) -> pd.DataFrame:
    """`fpr` and one TPR column per method (step-wise ROC read at each grid FPR)."""
    frame = pd.DataFrame({"fpr": ROC_GRID})
    for method, curve in rocs.items():
        frame[method] = roc_on_grid(curve)
    return frame


def sweep_frame(levels: Sequence[VariantInfo], results: list[RunResult], methods: Sequence[str]) -> pd.DataFrame:
    """`level` plus `<quantity>_<method>` columns, one row per sweep level in increasing order."""
    by_key = {(r.variant.name, r.method): r for r in results}
    rows = []
    for info in levels:
        row: dict[str, Any] = {"level": info.level}
        for name, section, metric in SWEEP_QUANTITIES:
            for m in methods:
                r = by_key.get((info.name, m))
                row[f"{name}_{m}"] = r.value(section, metric) if r else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def dvc_plot_definitions(params: Params, tables_dir: str) -> list[dict[str, Any]]:
    """dvc.yaml top-level `plots` entries for this run's curve files under `tables_dir`."""
    methods = list(params.run.methods)
    out: list[dict[str, Any]] = []
    for variant in params.run.variants:
        out.append(
            {
                f"{tables_dir}/{roc_file(variant)}": {
                    "x": "fpr",
                    "y": methods,
                    "template": "linear",
                    "title": f"OOD ROC (epistemic): {variant}",
                    "x_label": "false positive rate",
                    "y_label": "true positive rate",
                }
            }
        )
    bases = [b for b, d in params.variants.definitions.items() if d.levels is not None]
    for base in bases:
        if not any(v.partition(LEVEL_SEP)[0] == base and LEVEL_SEP in v for v in params.run.variants):
            continue
        sweep_key = params.variants.definitions[base].sweep_title()
        for name, _, _ in SWEEP_QUANTITIES:
            out.append(
                {
                    f"sweep_{base}_{name}": {
                        "x": "level",
                        "y": {f"{tables_dir}/{sweep_file(base)}": [f"{name}_{m}" for m in methods]},
                        "template": "linear",
                        "title": f"{name} vs {sweep_key} ({base})",
                        "x_label": str(sweep_key),
                        "y_label": name,
                    }
                }
            )
    return out
