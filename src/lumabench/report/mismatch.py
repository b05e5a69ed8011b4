"""Train/deploy modality mismatch in the report (McKinzie et al., ICML 2023; docs/robustness.md).

Draws what the robustness stage wrote in results/<profile>/robustness/summary.json: a heatmap of
each fused method's A→B accuracy matrix (with its self-distilled row), the robustness table
without and with each intervention (gains as ratios), the WiSE-FT curve, and the stage's sentence
naming the method most robust to losing each modality. Every number is the stage's (mean ± sd
over its training seeds); nothing is computed here. Without the stage's output the pieces are
skipped with a note.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lumabench.io import read_json
from lumabench.paths import Paths
from lumabench.report import figures as figs
from lumabench.report.html import FigureEntry
from lumabench.report.tables import Table

log = logging.getLogger(__name__)

SECTION = "Train/deploy modality mismatch"
SIDE_STYLE = {"old": ("-", "o"), "new": ("--", "s")}


@dataclass
class Mismatch:
    """The stage's summary (None without it), the tables made from it and notes for what is skipped."""

    summary: dict[str, Any] | None
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def methods(self) -> dict[str, Any]:
        return (self.summary or {}).get("methods") or {}

    @property
    def sentence(self) -> str | None:
        return (self.summary or {}).get("sentence") if self.methods else None


def _mean(s: dict[str, Any] | None) -> float:
    return math.nan if not s or s.get("mean") is None else float(s["mean"])


def _put(sd: dict, n: dict, i: int, col: str, s: dict[str, Any] | None) -> float:
    """The mean of a stage stat, its sd and n recorded for the table's renderings."""
    if s and s.get("sd") is not None:
        sd[(i, col)] = float(s["sd"])
    if s:
        n[(i, col)] = int(s.get("n") or 0)
    return _mean(s)


def _seeds_text(seeds: list[int]) -> str:
    return f"n = {len(seeds)} training seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def matrix_table(summary: dict[str, Any]) -> Table:
    """One row per (method, training set A, deployment set B): accuracy, NLL and ECE, mean ± sd."""
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    emphasis: set[tuple[int, str]] = set()
    for method, s in summary["methods"].items():
        for a in s["train_sets"]:  # the stage's order (the JSON's keys are sorted)
            for b in s["test_sets"]:
                i = len(rows)
                entry: dict[str, object] = {"method": method, "trained": a, "deployed": b}
                for metric in ("acc", "nll", "ece"):
                    entry[metric] = _put(sd, n, i, metric, s["matrix"][metric][a][b])
                if a == b:
                    emphasis.add((i, "acc"))
                rows.append(entry)
    frame = pd.DataFrame(rows, columns=["method", "trained", "deployed", "acc", "nll", "ece"])
    caption = (
        "Train/deploy modality mismatch (McKinzie et al., ICML 2023) on "
        f"{summary['variant']}: test accuracy, NLL and ECE of each fused method trained on modality set A and "
        "deployed on set B (only B's modalities given); bold: A = B; an empty row: A and B share no modality "
        f"(no input to score); {_seeds_text(summary['seeds'])}."
    )
    headers = {"trained": "Trained on (A)", "deployed": "Deployed on (B)", "acc": "Acc ↑", "nll": "NLL", "ece": "ECE"}
    return Table("mismatch_matrix", frame, caption, emphasis, sd, n, len(summary["seeds"]), headers)


def robustness_table(summary: dict[str, Any]) -> Table:
    """Per method and intervention: mean relative and effective robustness without and with it, and the gain."""
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    for method, s in summary["methods"].items():
        for line in s["robustness"]:
            i = len(rows)
            entry: dict[str, object] = {"method": method, "intervention": line["intervention"], "pairs": line["pairs"]}
            for key in ("rr", "er"):
                entry[f"{key}_without"] = _put(sd, n, i, f"{key}_without", line[f"{key}_without"])
                entry[f"{key}_with"] = _put(sd, n, i, f"{key}_with", line.get(f"{key}_with"))
                entry[f"{key}_gain"] = line.get(f"{key}_gain_text", "")
            rows.append(entry)
    cols = ["method", "intervention", "pairs", "rr_without", "rr_with", "rr_gain", "er_without", "er_with", "er_gain"]
    frame = pd.DataFrame(rows, columns=cols)
    caption = (
        "Robustness to a train/deploy modality mismatch, mean over the mismatched pairs named in 'Pairs', without "
        "and with each intervention: relative robustness RR = Acc(A→B) − Acc(A→A), effective robustness ER = "
        "Acc(A→B) − Acc(B→B) against the model trained on B (negative = accuracy lost). Gain = RR (or ER) without "
        "÷ with, as McKinzie et al. report theirs (> 1: a smaller loss; '∞': no loss left; 'no loss to reduce': "
        "none without). Self-distillation: λ·KL between the full-input and a random-subset prediction; WiSE-FT: "
        "weights interpolated between a model and its fine-tuning on added modalities; "
        f"{_seeds_text(summary['seeds'])}."
    )
    headers = {
        "intervention": "Intervention",
        "pairs": "Pairs",
        "rr_without": "RR without",
        "rr_with": "RR with",
        "rr_gain": "RR gain",
        "er_without": "ER without",
        "er_with": "ER with",
        "er_gain": "ER gain",
    }
    return Table("mismatch_robustness", frame, caption, set(), sd, n, len(summary["seeds"]), headers)


def curve_table(summary: dict[str, Any]) -> Table:
    """Per method and α: accuracy of θ_α on the old set and on the new set, mean ± sd."""
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    for method, s in summary["methods"].items():
        w = s.get("wise_ft")
        for k, alpha in enumerate((w or {}).get("alphas") or []):
            i = len(rows)
            assert w is not None
            rows.append(
                {
                    "method": method,
                    "alpha": float(alpha),
                    "acc_old": _put(sd, n, i, "acc_old", w["old"]["acc"][k]),
                    "acc_new": _put(sd, n, i, "acc_new", w["new"]["acc"][k]),
                }
            )
    frame = pd.DataFrame(rows, columns=["method", "alpha", "acc_old", "acc_new"])
    first = next((s["wise_ft"] for s in summary["methods"].values() if s.get("wise_ft")), None)
    sets = f"old set {first['old_set']}, new set {first['new_set']}" if first else ""
    caption = (
        "WiSE-FT (Wortsman et al., CVPR 2022, as McKinzie et al. apply it): θ_α = (1 − α)·θ₀ + α·θ₁ between θ₀, "
        f"trained on the old modality set, and θ₁, θ₀ fine-tuned with the added modalities ({sets}); test accuracy "
        f"of θ_α deployed on each set; α = 0 is θ₀, α = 1 is θ₁; {_seeds_text(summary['seeds'])}."
    )
    headers = {"alpha": "α", "acc_old": "Acc, old set", "acc_new": "Acc, new set"}
    return Table("mismatch_wise_ft", frame, caption, set(), sd, n, len(summary["seeds"]), headers)


def load(paths: Paths) -> Mismatch:
    """The stage's summary, or a note saying why the pieces are skipped."""
    path = paths.robustness / "summary.json"
    if not path.is_file():
        why = f"modality-mismatch pieces skipped: {path} not found (run `lumabench robustness`)"
        return Mismatch(None, notes=[why])
    summary = read_json(path, "re-run `lumabench robustness`")
    out = Mismatch(summary)
    if not out.methods:
        out.notes.append("modality-mismatch pieces skipped: robustness.methods names no method")
        return out
    out.tables += [matrix_table(summary), robustness_table(summary)]
    if any(s.get("wise_ft") for s in out.methods.values()):
        out.tables.append(curve_table(summary))
    for note in out.notes:
        log.info("report: %s", note)
    return out


# ---------------------------------------------------------------- figures
def _short(name: str) -> str:
    """image+audio+text -> I+A+T (heatmap ticks)."""
    return "+".join(part[0].upper() for part in name.split("+"))


def heatmap_figure(summary: dict[str, Any]) -> Figure:
    """One panel per method: accuracy of the model trained on A (rows) deployed on B (columns)."""
    methods = summary["methods"]
    n_rows = max(len(s["train_sets"]) + (1 if s.get("distill") else 0) for s in methods.values())
    fig = figs.new_figure(4.2 * len(methods) + 0.8, 0.45 * n_rows + 2.0)
    panels = fig.subplots(1, len(methods), squeeze=False)[0]
    image = None
    for ax, (method, s) in zip(panels, methods.items(), strict=True):
        cols = s["test_sets"]
        labels = list(s["train_sets"])
        values = [[_mean(s["matrix"]["acc"][a][b]) for b in cols] for a in labels]
        if s.get("distill"):
            values.append([_mean(s["distill"]["acc"][b]) for b in cols])
            labels.append(f"{_short(summary['full_set'])} + distill")
        grid = np.array(values, dtype=np.float64)
        image = ax.imshow(np.ma.masked_invalid(grid), vmin=0.0, vmax=1.0, cmap="viridis", aspect="equal")
        for (r, c), v in np.ndenumerate(grid):
            text, dark = ("—", True) if math.isnan(v) else (f"{v:.2f}", v > 0.6)
            ax.text(c, r, text, ha="center", va="center", fontsize=7, color="black" if dark else "white")
        ax.set_xticks(range(len(cols)), [_short(b) for b in cols], rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), [_short(a) if "+ distill" not in a else a for a in labels])
        ax.set_xlabel("deployed on B")
        ax.set_ylabel("trained on A")
        ax.set_title(method)
        ax.grid(False)
    if image is not None:
        fig.colorbar(image, ax=list(panels), shrink=0.8, label="Acc (test)")
    figs.suptitle(
        fig,
        f"Accuracy trained on A, deployed on B ({summary['variant']}; I = image, A = audio, T = text)",
        _seeds_text(summary["seeds"]),
    )
    return fig


def wise_ft_figure(summary: dict[str, Any], palette: figs.Palette) -> Figure:
    """One panel per method: accuracy of θ_α on the old and the new modality set against α, ± sd."""
    methods = {m: s for m, s in summary["methods"].items() if s.get("wise_ft")}
    palette = figs.Palette(tuple(dict.fromkeys([*palette.methods, *methods])))
    fig = figs.new_figure(4.4 * len(methods) + 0.6, 3.6)
    panels = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, (method, s) in zip(panels, methods.items(), strict=True):
        w = s["wise_ft"]
        xs = np.array(w["alphas"], dtype=np.float64)
        for side, name in (("old", w["old_set"]), ("new", w["new_set"])):
            stats = w[side]["acc"]
            ys = np.array([_mean(x) for x in stats])
            err = np.array([x.get("sd") or 0.0 for x in stats], dtype=np.float64)
            style, marker = SIDE_STYLE[side]
            ax.errorbar(xs, ys, yerr=err if err.any() else None, color=palette.color(method), linestyle=style,
                        marker=marker, capsize=3, label=f"deployed on {name} ({side})")  # fmt: skip
        ax.axvline(w["report_alpha"], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("α (0 = θ₀ trained on the old set, 1 = θ₁ fine-tuned)")
        ax.set_ylabel("Acc (test)")
        ax.set_title(method)
        ax.legend(loc="lower right")
    figs.suptitle(fig, "WiSE-FT: accuracy on the old and the new modality set against α", _seeds_text(summary["seeds"]))
    return fig


def figures(built: Mismatch, fig_dir: Path, dpi: int, palette: figs.Palette) -> list[FigureEntry]:
    """The heatmaps and the WiSE-FT curve, when the stage's summary has methods."""
    if not built.methods or built.summary is None:
        return []
    summary = built.summary
    out = []
    path = figs.save(heatmap_figure(summary), fig_dir / "mismatch_matrix.png", dpi)
    out.append(
        FigureEntry(
            SECTION,
            "Accuracy trained on A, deployed on B",
            path,
            "Test accuracy of each fused method trained on modality set A (rows) and deployed with only the "
            "modalities of B (columns); '+ distill': the model trained on all three with self-distillation; "
            f"'—': A and B share no modality; {_seeds_text(summary['seeds'])}. {built.sentence or ''}",
        )
    )
    if any(s.get("wise_ft") for s in built.methods.values()):
        path = figs.save(wise_ft_figure(summary, palette), fig_dir / "mismatch_wise_ft.png", dpi)
        out.append(
            FigureEntry(
                SECTION,
                "WiSE-FT: accuracy against the interpolation weight α",
                path,
                "Accuracy of θ_α = (1 − α)·θ₀ + α·θ₁ deployed on the old modality set (solid) and on the new one "
                "(dashed); the dotted line marks the α of the robustness table; ± 1 sd over training seeds; "
                f"{_seeds_text(summary['seeds'])}.",
            )
        )
    return out


__all__ = ["Mismatch", "figures", "load"]
