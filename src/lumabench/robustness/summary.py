"""The stage's numbers over training seeds: relative and effective robustness, intervention gains, and
which method is most robust to losing each modality (McKinzie et al., ICML 2023; docs/robustness.md).

Definitions, per training seed, with Acc(A→B) the accuracy of the model trained on A deployed on B:
relative robustness RR(A→B) = Acc(A→B) − Acc(A→A); effective robustness ER(A→B) = Acc(A→B) −
Acc(B→B), against the model trained on B (only where B is a training set). A method's robustness is
the mean over the mismatched pairs (A ≠ B, with a modality in common); every number is then the
mean ± sd (ddof = 1) over seeds, and an intervention's gain is the ratio of the mean losses
without and with it (RR_without / RR_with, > 1 = a smaller loss), as the paper reports its 1.5–4×.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lumabench.modality_sets import set_name
from lumabench.params import MODALITIES

DIGITS = 6
Run = dict[str, Any]  # one method x seed file of the stage


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), DIGITS)


def stat(values: Iterable[float | None]) -> dict[str, Any]:
    """Mean and sample sd (ddof = 1, null below two values) of the values that exist; n = how many."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"mean": None, "sd": None, "n": 0}
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else None
    return {"mean": _round(float(np.mean(finite))), "sd": _round(sd), "n": int(finite.size)}


def _acc(row: dict[str, Any] | None, b: str) -> float | None:
    cell = (row or {}).get(b)
    return None if cell is None else cell.get("acc")


def _diff(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else x - y


def relative(run: Run, a: str, b: str, row: dict[str, Any] | None = None) -> float | None:
    """RR(A→B) = Acc(A→B) − Acc(A→A) of one run (`row`: another model's row trained on A, e.g. distilled)."""
    row = run["matrix"][a] if row is None else row
    return _diff(_acc(row, b), _acc(row, a))


def effective(run: Run, a: str, b: str, row: dict[str, Any] | None = None) -> float | None:
    """ER(A→B) = Acc(A→B) − Acc(B→B), the second from the model trained on B (None when B is not a training set)."""
    row = run["matrix"][a] if row is None else row
    return _diff(_acc(row, b), _acc(run["matrix"].get(b), b))


def _mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def gain(without: float | None, with_: float | None) -> tuple[float | None, str]:
    """The ratio of the mean losses without and with an intervention (both negative), and its text."""
    if without is None or with_ is None:
        return None, "—"
    if without >= 0:
        return None, "no loss to reduce"
    if with_ >= 0:
        return None, "∞ (no loss left)"
    ratio = without / with_
    return _round(ratio), f"{ratio:.2f}×"


def _row(name: str, pairs: str, rr: tuple[list, list | None], er: tuple[list, list | None]) -> dict[str, Any]:
    """One line of the robustness table from per-seed means without and with the intervention."""
    out: dict[str, Any] = {"intervention": name, "pairs": pairs}
    for key, (without, with_) in (("rr", rr), ("er", er)):
        s_without = stat(without)
        out[f"{key}_without"] = s_without
        out[f"{key}_with"] = stat(with_) if with_ is not None else None
        if with_ is not None:  # the ratio of the unrounded means
            ratio, text = gain(_mean(without), _mean(with_))
            out[f"{key}_gain"], out[f"{key}_gain_text"] = ratio, text
    return out


def _mismatched(run: Run) -> list[tuple[str, str]]:
    """Pairs A ≠ B of the run's matrix whose cell has a value (A and B share a modality)."""
    return [(a, b) for a, row in run["matrix"].items() for b in row if a != b and _acc(row, b) is not None]


def robustness_table(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Robustness without and with each intervention the runs hold (mean over the pairs, then over seeds)."""
    full = set_name(MODALITIES)
    ordinary_only = bool(runs) and list(runs[0]["matrix"]) == [full]
    rows = [
        _row(
            "none",
            f"{full} → B, B ≠ {full} (the ordinary model only)"
            if ordinary_only
            else "every mismatched A → B (A ≠ B, sharing a modality)",
            ([_mean(relative(r, a, b) for a, b in _mismatched(r)) for r in runs], None),
            ([_mean(effective(r, a, b) for a, b in _mismatched(r)) for r in runs], None),
        )
    ]
    if runs and runs[0].get("distill"):
        targets = [b for b in runs[0]["test_sets"] if b != full]
        trained = [b for b in targets if b in runs[0]["matrix"]]
        rows.append(
            _row(
                "self-distillation",
                f"{full} → B, B ≠ {full} (ER: B a training set)",
                (
                    [_mean(relative(r, full, b) for b in targets) for r in runs],
                    [_mean(relative(r, full, b, r["distill"]["row"]) for b in targets) for r in runs],
                ),
                (
                    [_mean(effective(r, full, b) for b in trained) for r in runs],
                    [_mean(effective(r, full, b, r["distill"]["row"]) for b in trained) for r in runs],
                ),
            )
        )
    if runs and runs[0].get("wise_ft"):
        w = runs[0]["wise_ft"]
        alpha = w["report_alpha"]

        def at(run: Run, a: float, side: str) -> float | None:
            point = next(p for p in run["wise_ft"]["curve"] if p["alpha"] == a)
            return (point[side] or {}).get("acc")

        def rr(run: Run, a: float) -> float | None:  # trained on new, deployed on old
            return _diff(at(run, a, "old"), at(run, a, "new"))

        def er(run: Run, a: float) -> float | None:  # against θ₀, the model trained on old
            return _diff(at(run, a, "old"), at(run, 0.0, "old"))

        rows.append(
            _row(
                f"WiSE-FT (α = {alpha:g})",
                f"{w['new']} → {w['old']}: fine-tuned (α = 1) vs α = {alpha:g}",
                ([rr(r, 1.0) for r in runs], [rr(r, alpha) for r in runs]),
                ([er(r, 1.0) for r in runs], [er(r, alpha) for r in runs]),
            )
        )
    return rows


def matrix_stats(runs: Sequence[Run], key: str = "matrix") -> dict[str, dict[str, dict[str, Any]]]:
    """{metric: {A: {B: mean ± sd over seeds}}} of the runs' matrices (`key`: "matrix")."""
    first = runs[0][key]
    return {
        metric: {a: {b: stat((r[key][a].get(b) or {}).get(metric) for r in runs) for b in first[a]} for a in first}
        for metric in ("acc", "nll", "ece", "brier")
    }


def distill_row(runs: Sequence[Run]) -> dict[str, Any] | None:
    """The self-distilled model's row (trained on the full set): accuracy per deployment set, mean ± sd."""
    if not runs or not runs[0].get("distill"):
        return None
    d = runs[0]["distill"]
    acc = {b: stat((r["distill"]["row"][b] or {}).get("acc") for r in runs) for b in runs[0]["test_sets"]}
    return {"weight": d["weight"], "temperature": d["temperature"], "acc": acc}


def losing(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Per modality m: RR(full → full without m) of the ordinary model, mean ± sd over seeds."""
    full = set_name(MODALITIES)
    out = {}
    for m in MODALITIES:
        rest = set_name([x for x in MODALITIES if x != m])
        if rest in runs[0]["matrix"][full]:
            out[m] = {"deployed": rest, "rr": stat(relative(r, full, rest) for r in runs)}
    return out


def wise_curve(runs: Sequence[Run]) -> dict[str, Any] | None:
    """The WiSE-FT curve: per α, each metric on the old and the new set, mean ± sd over seeds."""
    if not runs or not runs[0].get("wise_ft"):
        return None
    w = runs[0]["wise_ft"]
    alphas = [p["alpha"] for p in w["curve"]]
    sides: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for side in ("old", "new"):
        sides[side] = {
            metric: [stat((r["wise_ft"]["curve"][i][side] or {}).get(metric) for r in runs) for i in range(len(alphas))]
            for metric in ("acc", "nll", "ece")
        }
    return {"old_set": w["old"], "new_set": w["new"], "report_alpha": w["report_alpha"], "alphas": alphas, **sides}


def most_robust(methods: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """For each modality, the method whose accuracy falls least when it is lost, and the report's sentence."""
    choice: dict[str, Any] = {}
    parts = []
    for m in MODALITIES:
        drops = {
            name: s["losing"][m]["rr"]["mean"]
            for name, s in methods.items()
            if m in s["losing"] and s["losing"][m]["rr"]["mean"] is not None
        }
        if not drops:
            continue
        best = max(drops, key=lambda k: drops[k])  # first in robustness.methods order on a tie
        ties = [k for k, v in drops.items() if v == drops[best]]
        choice[m] = {"method": best, "rr": drops[best], "ties": ties}
        others = "; ".join(f"{k} {v:+.3f}" for k, v in drops.items() if k != best)
        tail = f" (against {others})" if others else " (the only method evaluated)"
        parts.append(f"losing {m}, {best} is the most robust: accuracy {drops[best]:+.3f}{tail}")
    if not parts:
        return choice, "No method was deployed without one of its modalities."
    full = set_name(MODALITIES)
    text = (
        f"Trained on {full} and deployed without one modality (relative robustness, mean over seeds): "
        + "; ".join(parts)
        + "."
    )
    return choice, text[0].upper() + text[1:]
