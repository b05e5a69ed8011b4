"""Curve data for `dvc plots`: wide CSV files with fixed x fields, one y column per method.

DVC draws one line per y field, so every series sits in its own column, and each mean over seeds
has its sd beside it (`<column>_sd`, ddof = 1, empty with one seed): ROC files hold the TPR of each
method on a fixed FPR grid (vertically averaged over seeds); sweep files hold `acc_<method>`
(variant labels), `acc_original_<method>` (original labels), `aleatoric_<method>` and
`epistemic_<method>` (nats) per level; aleatoric files hold the mean test aleatoric uncertainty
per level, one column per method, the data of the uncertainty-against-noise figure. Sweep levels
start at 0 = the clean variant when the run has one. `dvc_plot_definitions` gives the dvc.yaml
entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lumabench.io import write_text
from lumabench.params import LEVEL_SEP, Params
from lumabench.report.aggregate import SweepAxis, cell_map, lower_is_noisier
from lumabench.report.collect import RunResult
from lumabench.report.curves import ROC_GRID, Roc, averaged_roc
from lumabench.report.figures import slug

PLOTS_DIR = "plots"
# (column prefix, metrics section, metric name): the first three keep the names dvc.yaml declares
SWEEP_QUANTITIES = (
    ("acc", "test", "acc"),
    ("aleatoric", "test", "aleatoric"),
    ("epistemic", "test", "epistemic"),
    ("acc_original", "test", "acc_original"),
)


def roc_file(variant: str) -> str:
    return f"{PLOTS_DIR}/roc_{slug(variant)}.csv"


def sweep_file(base: str) -> str:
    return f"{PLOTS_DIR}/sweep_{base}.csv"


def aleatoric_file(base: str) -> str:
    return f"{PLOTS_DIR}/aleatoric_{base}.csv"


def roc_frame(rocs: dict[str, list[Roc]]) -> pd.DataFrame:
    """`fpr`, then per method the mean TPR over seeds at each grid FPR and its sd (`<method>_sd`)."""
    frame = pd.DataFrame({"fpr": ROC_GRID})
    for method, curves in rocs.items():
        mean, sd = averaged_roc(curves)
        frame[method] = mean
        frame[f"{method}_sd"] = sd
    return frame


def sweep_frame(axis: SweepAxis, results: list[RunResult], methods: Sequence[str]) -> pd.DataFrame:
    """`level`, `variant`, then `<quantity>_<method>` (mean over seeds) and `<quantity>_<method>_sd`."""
    by_cell = cell_map(results)
    rows = []
    for level, info in axis.points:
        row: dict[str, Any] = {"level": level, "variant": info.name}
        for name, section, metric in SWEEP_QUANTITIES:
            for m in methods:
                cell = by_cell.get((info.name, m))
                s = cell.stat(section, metric) if cell else None
                row[f"{name}_{m}"] = s.mean if s else float("nan")
                row[f"{name}_{m}_sd"] = s.sd if s else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def aleatoric_frame(axis: SweepAxis, results: list[RunResult], methods: Sequence[str]) -> pd.DataFrame:
    """The aleatoric-against-noise figure's data: `level`, `variant`, `<method>` = mean test aleatoric
    uncertainty (nats) over seeds, `<method>_sd` and `<method>_n` (seeds with a value)."""
    by_cell = cell_map(results)
    rows = []
    for level, info in axis.points:
        row: dict[str, Any] = {"level": level, "variant": info.name}
        for m in methods:
            cell = by_cell.get((info.name, m))
            s = cell.stat("test", "aleatoric") if cell else None
            row[m] = s.mean if s else float("nan")
            row[f"{m}_sd"] = s.sd if s else float("nan")
            row[f"{m}_n"] = s.n if s else 0
        rows.append(row)
    return pd.DataFrame(rows)


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def dvc_plot_definitions(params: Params, tables_dir: str) -> list[dict[str, Any]]:
    """dvc.yaml top-level `plots` entries for this run's curve files under `tables_dir`."""
    out: list[dict[str, Any]] = []
    for variant in params.run.variants:
        methods = params.run.methods_for(variant)
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
    defs = params.variants.definitions
    has_clean = any(LEVEL_SEP not in v and defs[v].family == "clean" for v in params.run.variants if v in defs)
    for base in bases:
        if not any(v.partition(LEVEL_SEP)[0] == base and LEVEL_SEP in v for v in params.run.variants):
            continue
        methods = params.run.methods_for(base)
        sweep_key = params.variants.definitions[base].sweep_title()
        snr = lower_is_noisier(defs[base])  # clean is +inf dB there, not level 0
        zero = "; level 0 = clean" if has_clean and not snr and 0 not in (defs[base].levels or []) else ""
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
        out.append(
            {
                f"aleatoric_{base}": {
                    "x": "level",
                    "y": {f"{tables_dir}/{aleatoric_file(base)}": methods},
                    "template": "linear",
                    "title": f"mean test aleatoric uncertainty (nats) vs {sweep_key} ({base}{zero})",
                    "x_label": str(sweep_key),
                    "y_label": "aleatoric uncertainty (nats)",
                }
            }
        )
    return out
