"""The report over training seeds: mean ± sd, both label sets, one ECE, excluded rows, empty cells and
the aleatoric-against-noise figure, checked against hand-made metrics JSON and predictions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lumabench.evaluate import metrics as M
from lumabench.params import Params
from lumabench.report import figures as figs
from lumabench.report import plotdata, tables
from lumabench.report.aggregate import cell_map, seeds_note, stat, sweep_axes
from lumabench.report.build import calibration_panel
from lumabench.report.collect import collect, load_predictions
from test_report_fixture import ID_NAMES, METHODS, N_TEST, make_params, make_results, params_dict, reported_twice

__all__ = ["reported_twice"]


def _json(fx, v: str, m: str, seed: int) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(fx.paths.metrics(v, m, seed).read_text())


def test_stat_is_mean_and_sample_sd() -> None:
    s = stat([1.0, 2.0, 4.0, math.nan])
    assert s.n == 3 and s.mean == pytest.approx(7 / 3)
    assert s.sd == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))  # ddof = 1
    one = stat([0.5])
    assert one.mean == 0.5 and math.isnan(one.sd) and one.n == 1
    assert stat([math.nan]).empty and stat([]).empty
    assert seeds_note([1, 2]) == "mean ± sd (ddof = 1) over n = 2 training seeds (1, 2)"


def test_aleatoric_figure_data_holds_the_means(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    seeds = fx.params.run.seeds
    axes = {
        "severity": ["clean", "severity-1", "severity-3", "severity-5"],
        "label_sweep": ["clean", "label_sweep-0.3"],
    }
    for base, variants in axes.items():
        frame = pd.read_csv(fx.paths.tables / plotdata.aleatoric_file(base))
        assert list(frame["variant"]) == variants and frame["level"].iloc[0] == 0.0
        for m in METHODS:
            want = np.array([[_json(fx, v, m, s)["test"]["aleatoric"] for s in seeds] for v in variants])
            assert frame[m].tolist() == pytest.approx(want.mean(axis=1).tolist(), abs=1e-12)
            assert frame[f"{m}_sd"].tolist() == pytest.approx(want.std(axis=1, ddof=1).tolist(), abs=1e-12)
            assert set(frame[f"{m}_n"]) == {2}
    severity = pd.read_csv(fx.paths.tables / plotdata.aleatoric_file("severity"))
    assert all(severity[m].is_monotonic_increasing for m in METHODS)  # the fixture's noise raises it
    html = fx.paths.report_html.read_text()
    assert "Aleatoric uncertainty against injected noise" in html
    caption = html.split('id="fig-aleatoric_vs_noise"')[1].split("</figcaption>")[0]
    assert "nats" in caption and "n = 2 training seeds" in caption and "level 0 is the clean variant" in caption


def test_sweeps_come_from_the_definitions(tmp_path: Path) -> None:
    """Any definition with a `sweep` is an axis, under its own name and label; clean is level 0."""
    raw = params_dict(["clean", "blur-2", "blur-4", "flip-0.2"], ["mcd_image"], [1, 2])
    raw["variants"]["definitions"]["blur"] = {
        "family": "sample_noise",
        "sweep": "image.severity",
        "sweep_label": "blur severity",
        "levels": [2, 4],
        "image": {"train": False, "test": True, "ratio": 1.0},
    }
    raw["variants"]["definitions"]["flip"] = {"family": "label_noise", "sweep": "rate.image.test", "levels": [0.2]}
    params = Params.model_validate(raw)
    fx = make_results(tmp_path, params, sheet=False)
    results = collect(params, fx.paths)
    axes = {a.base: a for a in sweep_axes(params, results)}
    assert set(axes) == {"blur", "flip"}
    assert axes["blur"].title == "blur severity" and axes["blur"].levels == [0.0, 2.0, 4.0]
    assert [v.name for v in axes["flip"].variants] == ["clean", "flip-0.2"] and axes["flip"].with_clean
    with figs.style():
        fig = figs.aleatoric_figure(list(axes.values()), results, figs.Palette(("mcd_image",)))
    assert [ax.get_xlabel() for ax in fig.axes[:2]] == ["blur severity", "rate.image.test"]
    without_clean = [r for r in results if r.variant.name != "clean"]
    assert all(not a.with_clean and a.levels[0] > 0 for a in sweep_axes(params, without_clean))


def test_both_accuracies_in_tables_and_captions(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    main = pd.read_csv(fx.paths.tables / "main.csv")
    seeds = fx.params.run.seeds
    for m in METHODS:
        for v in ("clean", "label_sweep-0.3"):
            row = main[(main.variant == v) & (main.method == m)].iloc[0]
            orig = np.array([_json(fx, v, m, s)["test"]["acc_original"] for s in seeds])
            assert row["acc_original"] == pytest.approx(orig.mean()) and row["acc_original_sd"] == pytest.approx(
                orig.std(ddof=1)
            )
        clean = main[(main.variant == "clean") & (main.method == m)].iloc[0]
        assert clean["acc"] == clean["acc_original"]  # nothing switched
        noisy = main[(main.variant == "label_sweep-0.3") & (main.method == m)].iloc[0]
        # 30 % of the test labels switched while the model predicts the true class: the variant-label
        # accuracy is lower by about the switch rate times the accuracy
        assert noisy["acc"] < noisy["acc_original"]
        assert noisy["acc"] == pytest.approx(noisy["acc_original"] * 0.7, abs=0.08)
    original = pd.read_csv(fx.paths.tables / "accuracy_original.csv").set_index("method")
    assert original.loc["mcd_fused", "label_sweep-0.3"] == pytest.approx(
        main[(main.variant == "label_sweep-0.3") & (main.method == "mcd_fused")]["acc_original"].iloc[0]
    )
    md = (fx.paths.tables / "main.md").read_text()
    assert "Acc (variant labels) ↑" in md and "Acc (original labels) ↑" in md
    assert "after label switching" in md and "true classes" in md
    html = fx.paths.report_html.read_text()
    for name in ("sweep_label_sweep", "sweep_severity"):
        caption = html.split(f'id="fig-{name}"')[1].split("</figcaption>")[0]
        assert "variant labels" in caption and "original labels" in caption and "n = 2 training seeds" in caption


def test_units_in_headers_and_empty_cells_for_missing_values(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    md = (fx.paths.tables / "main.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Variant"))
    for h in ("Aleatoric (nats)", "Epistemic (nats)", "Total (nats)", "Vacuity (K/S)"):
        assert h in header
    cols = [c.strip() for c in header.strip("|").split("|")]
    vac = cols.index("Vacuity (K/S)")
    for line in md.splitlines():
        if line.startswith("| clean | mcd_image |"):
            assert [c.strip() for c in line.strip("|").split("|")][vac] == ""
        if line.startswith("| clean | rcml_fused |"):
            assert "±" in line.strip("|").split("|")[vac]
    assert "nan" not in md.lower().replace("nans", "")
    main_csv = (fx.paths.tables / "main.csv").read_text()
    assert "nan" not in main_csv.lower()
    vacuity = pd.read_csv(fx.paths.tables / "vacuity.csv").set_index("method")
    assert vacuity.loc["mcd_image"].isna().all() and vacuity.loc["rcml_fused"].notna().all()
    assert "| rcml_fused |" in (fx.paths.tables / "vacuity.md").read_text()
    html = fx.paths.report_html.read_text()
    assert "Vacuity (K/S)</th>" in html and "Aleatoric (nats)</th>" in html


def test_excluded_rows_are_counted_per_run(tmp_path: Path) -> None:
    params = make_params(["clean", "missing"], ["mcd_image", "mcd_fused"], [42, 43])
    fx = make_results(tmp_path, params, sheet=False)
    results = collect(params, fx.paths)
    main = tables.main_table(params, results, ())
    frame = main.frame.set_index(["variant", "method"])
    assert frame.loc[("missing", "mcd_image"), "excluded_test"] == 17  # every 5th of 84 test rows
    assert frame.loc[("missing", "mcd_image"), "excluded_ood"] == 8  # every 5th of 40 OOD rows
    assert frame.loc[("missing", "mcd_fused"), "excluded_test"] == 0
    assert frame.loc[("clean", "mcd_image"), "excluded_test"] == 0
    assert _json(fx, "missing", "mcd_image", 42)["test"]["n"] == N_TEST - 17
    md = tables.to_markdown(main)
    assert "Excluded test rows" in md and "Excluded OOD rows" in md
    row = next(line for line in md.splitlines() if line.startswith("| missing | mcd_image |"))
    assert row.rstrip().endswith("| 17 | 8 |")  # counts, no sd when every seed excluded the same rows
    assert "excluded" in main.caption


def test_ece_shown_is_the_metrics_ece_and_bins_match(tmp_path: Path) -> None:
    """The reliability figure prints the ECE of the metrics files (which equals `metrics.ece` on the
    same predictions) and bins the predictions exactly as `metrics.calibration_bins`."""
    for seeds in ([42], [42, 43]):
        params = make_params(["clean", "label_sweep-0.3"], ["mcd_image", "rcml_fused"], seeds)
        fx = make_results(tmp_path / str(len(seeds)), params, sheet=False)
        results = collect(params, fx.paths)
        for (variant, method), cell in cell_map(results).items():
            preds = [load_predictions(r) for r in cell.runs]
            bins, shown = calibration_panel(cell, preds)
            eces = []
            for df in preds:
                test = df[df["split"] == "test"]
                labels = np.array([ID_NAMES.index(x) for x in test["label"]])
                eces.append(M.ece(np.stack(test["probs"].to_numpy()).astype(np.float64), labels))
            assert shown.mean == pytest.approx(np.mean(eces), abs=1e-9)
            assert shown.n == len(seeds)
            tests = pd.concat([df[df["split"] == "test"] for df in preds])
            count, acc, conf = M.calibration_bins(tests["confidence"].to_numpy(), tests["correct"].to_numpy())
            assert count.size == 15 and np.array_equal(bins.count, count)
            assert np.allclose(bins.accuracy, acc, equal_nan=True)
            assert np.allclose(bins.confidence, conf, equal_nan=True)
            with figs.style():
                fig = figs.reliability_figure(variant, {method: bins}, {method: shown}, figs.Palette((method,)), 1)
            title = fig.axes[0].get_title()
            want = f"{shown.mean:.3f}" if len(seeds) == 1 else f"{shown.mean:.3f} ± {shown.sd:.3f}"
            assert title == f"{method}  ECE {want}"
            if len(seeds) == 1:  # one seed: the printed ECE is metrics.ece of these very predictions
                assert title.endswith(f"{eces[0]:.3f}")
