"""The robustness stage's summary on hand-made runs (RR, ER, gains as ratios, the most-robust sentence)
and the report pieces drawn from it: tables carry the stage's numbers, figures, notes."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lumabench.io import write_json
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.report import figures as figs
from lumabench.report import mismatch
from lumabench.robustness.stage import summarise

FULL = "image+audio+text"
TEST_SETS = [FULL, "image+audio", "image+text", "audio+text", "image", "audio", "text"]
FUSED = ["image", "audio", "text"]


def _cells(accs: dict[str, float | None]) -> dict[str, dict | None]:
    cell = {"ece": 0.1, "brier": 0.2, "n": 100}
    return {b: None if a is None else {"acc": a, "nll": 1.0 - a, **cell} for b, a in accs.items()}


def _run(method: str, full_row: list[float], distilled: list[float] | None) -> dict:
    """One seed of one method: rows image+audio+text and image+text, the distilled row, the WiSE-FT curve."""
    it_row = dict(zip(TEST_SETS, [0.7, 0.6, 0.7, 0.5, 0.6, None, 0.4], strict=True))
    curve = [
        {"alpha": 0.0, "old": {"acc": 0.7}, "new": {"acc": 0.7}},
        {"alpha": 0.5, "old": {"acc": 0.72}, "new": {"acc": 0.85}},
        {"alpha": 1.0, "old": {"acc": 0.6}, "new": {"acc": 0.9}},
    ]
    return {
        "method": method,
        "seed": 42,
        "train_sets": [FULL, "image+text"],
        "test_sets": TEST_SETS,
        "matrix": {FULL: _cells(dict(zip(TEST_SETS, full_row, strict=True))), "image+text": _cells(it_row)},
        "distill": None
        if distilled is None
        else {"weight": 1.0, "temperature": 1.0, "row": _cells(dict(zip(TEST_SETS, distilled, strict=True)))},
        "wise_ft": {"old": "image+text", "new": FULL, "report_alpha": 0.5, "curve": curve},
    }


M1 = _run("m1", [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], [0.88, 0.82, 0.75, 0.7, 0.6, 0.5, 0.45])
M2 = _run("m2", [0.9, 0.85, 0.6, 0.7, 0.5, 0.4, 0.3], None)


def _params() -> Params:
    spec = {"kind": "mc_dropout", "modalities": FUSED}
    return Params.model_validate(
        {
            "run": {"variants": ["clean"], "methods": ["m1", "m2"], "seeds": [42]},
            "variants": {"definitions": {"clean": {"family": "clean"}}},
            "methods": {"m1": spec, "m2": spec},
            "robustness": {"methods": ["m1", "m2"], "train_sets": [FUSED, ["image", "text"]]},
        }
    )


@pytest.fixture(scope="module")
def summary() -> dict:
    return summarise(_params(), {("m1", 42): M1, ("m2", 42): M2})


def test_relative_and_effective_robustness_and_the_gains(summary: dict) -> None:
    none, distill, wise = summary["methods"]["m1"]["robustness"]
    # RR: the 6 mismatched cells of the full row and the 5 with a value of the image+text row
    assert none["rr_without"]["mean"] == pytest.approx((-2.1 - 0.7) / 11, abs=1e-6)
    # ER only where B is a training set: full → image+text (0.7 − 0.7) and image+text → full (0.7 − 0.9)
    assert none["er_without"]["mean"] == pytest.approx(-0.1, abs=1e-6)
    assert none["rr_with"] is None and "rr_gain" not in none
    assert distill["rr_without"]["mean"] == pytest.approx(-0.35, abs=1e-6)
    assert distill["rr_with"]["mean"] == pytest.approx(-1.46 / 6, abs=1e-6)
    assert distill["rr_gain"] == pytest.approx(0.35 / (1.46 / 6), abs=1e-6) and distill["rr_gain_text"] == "1.44×"
    assert distill["er_without"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert distill["er_gain"] is None and distill["er_gain_text"] == "no loss to reduce"
    # WiSE-FT at α = 0.5 against plain fine-tuning (α = 1), deployed on the old set
    assert wise["rr_without"]["mean"] == pytest.approx(-0.3, abs=1e-6)
    assert wise["rr_with"]["mean"] == pytest.approx(-0.13, abs=1e-6)
    assert wise["rr_gain"] == pytest.approx(0.3 / 0.13, abs=1e-5) and wise["rr_gain_text"] == "2.31×"
    assert wise["er_without"]["mean"] == pytest.approx(-0.1, abs=1e-6)
    assert wise["er_gain"] is None and wise["er_gain_text"] == "∞ (no loss left)"
    assert [r["intervention"] for r in summary["methods"]["m2"]["robustness"]] == ["none", "WiSE-FT (α = 0.5)"]


def test_the_most_robust_method_per_lost_modality(summary: dict) -> None:
    losing = {m: {k: v["rr"]["mean"] for k, v in s["losing"].items()} for m, s in summary["methods"].items()}
    assert losing["m1"] == pytest.approx({"image": -0.3, "audio": -0.2, "text": -0.1})
    assert losing["m2"] == pytest.approx({"image": -0.2, "audio": -0.3, "text": -0.05})
    assert {m: c["method"] for m, c in summary["most_robust"].items()} == {"image": "m2", "audio": "m1", "text": "m2"}
    s = summary["sentence"]
    assert "losing image, m2 is the most robust: accuracy -0.200 (against m1 -0.300)" in s
    assert "losing audio, m1 is the most robust" in s and "losing text, m2 is the most robust" in s


def test_report_pieces_carry_the_stage_numbers(summary: dict, tmp_path) -> None:
    paths = Paths(tmp_path, "mini")
    assert mismatch.load(paths).tables == [] and "not found" in mismatch.load(paths).notes[0]
    write_json(paths.robustness / "summary.json", summary)
    built = mismatch.load(paths)
    names = [t.name for t in built.tables]
    assert names == ["mismatch_matrix", "mismatch_robustness", "mismatch_wise_ft"]
    matrix = built.tables[0].frame
    cell = matrix[(matrix["method"] == "m2") & (matrix["trained"] == FULL) & (matrix["deployed"] == "image+text")]
    assert float(cell["acc"].iloc[0]) == pytest.approx(0.6)
    empty = matrix[(matrix["trained"] == "image+text") & (matrix["deployed"] == "audio")]
    assert all(math.isnan(v) for v in empty["acc"])
    rob = built.tables[1].frame
    row = rob[(rob["method"] == "m1") & (rob["intervention"] == "self-distillation")].iloc[0]
    assert row["rr_gain"] == "1.44×" and row["rr_with"] == pytest.approx(-1.46 / 6, abs=1e-6)
    curve = built.tables[2].frame
    assert list(curve[curve["method"] == "m1"]["acc_new"]) == pytest.approx([0.7, 0.85, 0.9])
    assert built.sentence == summary["sentence"]
    with figs.style():
        entries = mismatch.figures(built, tmp_path, 60, figs.Palette(("m1", "m2")))
    assert [e.path.name for e in entries] == ["mismatch_matrix.png", "mismatch_wise_ft.png"]
    assert all(e.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for e in entries)
    assert summary["sentence"] in entries[0].caption
    assert isinstance(matrix, pd.DataFrame)
