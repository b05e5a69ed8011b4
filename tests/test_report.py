"""Stage 8 outputs: tables, metrics.json, DVC plot files, figures, determinism and input errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.container import BarContainer
from sklearn.metrics import roc_auc_score

from lumabench.errors import InputError
from lumabench.report import figures as figs
from lumabench.report import paper, plotdata, tables
from lumabench.report.collect import collect, sweeps
from lumabench.report.curves import reliability, roc, roc_on_grid
from test_report_fixture import (
    METHODS,
    VARIANTS,
    make_params,
    make_predictions,
    make_results,
    params_dict,
    reported_twice,
)

__all__ = ["reported_twice"]


def _metrics(fx, v: str, m: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(fx.paths.metrics(v, m).read_text())


def test_tables_hold_the_metrics(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    acc = pd.read_csv(fx.paths.tables / "accuracy.csv").set_index("method")
    assert list(acc.columns) == VARIANTS and list(acc.index) == METHODS
    main = pd.read_csv(fx.paths.tables / "main.csv")
    assert len(main) == len(VARIANTS) * len(METHODS) and set(main["source"]) == {"this run"}
    for v in VARIANTS:
        for m in METHODS:
            got = _metrics(fx, v, m)
            assert acc.loc[m, v] == pytest.approx(got["test"]["acc"], abs=1e-12)
            row = main[(main.variant == v) & (main.method == m)].iloc[0]
            assert row["ood_auroc"] == pytest.approx(got["ood"]["auroc_epistemic"], abs=1e-12)
            assert row["epistemic"] == pytest.approx(got["test"]["epistemic"], abs=1e-12)
    md = (fx.paths.tables / "main.md").read_text()
    tex = (fx.paths.tables / "main.tex").read_text()
    assert md.count("| this run |") == len(VARIANTS) * len(METHODS)
    # best accuracy per variant in bold, in both renderings
    best = acc.loc[acc["clean"].idxmax(), "clean"]
    assert f"**{best:.3f}**" in md and f"\\textbf{{{best:.3f}}}" in tex
    assert "\\begin{tabular}" in tex and "label\\_sweep-0.3" in tex and "\\toprule" in tex
    long = pd.read_csv(fx.paths.tables / "results.csv")
    assert {"test_acc", "ood_auroc_epistemic", "per_modality_image_acc", "train_seconds"} <= set(long.columns)
    assert sorted(long.loc[long.base == "severity", "level"].unique()) == [1.0, 3.0, 5.0]


def test_metrics_json_is_flat_for_dvc(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    data = json.loads(fx.paths.metrics_summary.read_text())
    assert set(data) == {f"{v}/{m}" for v in VARIANTS for m in METHODS}
    for key, values in data.items():
        v, m = key.split("/")
        assert all(isinstance(x, float) and math.isfinite(x) for x in values.values())
        assert values["test_acc"] == pytest.approx(_metrics(fx, v, m)["test"]["acc"])
        assert values["ood_auroc_epistemic"] == pytest.approx(_metrics(fx, v, m)["ood"]["auroc_epistemic"])
        assert not any(k.startswith("train_") for k in values)
    assert "per_modality_audio_acc" in data["clean/mcd_fused"]


def test_plot_files_for_dvc(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    sweep = pd.read_csv(fx.paths.tables / plotdata.sweep_file("severity"))
    assert list(sweep["level"]) == [1.0, 3.0, 5.0]
    for m in METHODS:
        accs = [_metrics(fx, f"severity-{lv}", m)["test"]["acc"] for lv in (1, 3, 5)]
        assert sweep[f"acc_{m}"].tolist() == pytest.approx(accs)
        assert sweep[f"acc_{m}"].is_monotonic_decreasing  # the fixture's noise hurts every method
    single = pd.read_csv(fx.paths.tables / plotdata.sweep_file("label_sweep"))
    assert list(single["level"]) == [0.3]
    for v in VARIANTS:
        frame = pd.read_csv(fx.paths.tables / plotdata.roc_file(v))
        assert list(frame.columns) == ["fpr", *METHODS]
        assert frame["fpr"].iloc[0] == 0.0 and frame["fpr"].iloc[-1] == 1.0
        for m in METHODS:
            assert frame[m].is_monotonic_increasing and frame[m].iloc[-1] == 1.0
    defs = plotdata.dvc_plot_definitions(fx.params, "results/mini/tables")
    files = set()
    for d in defs:
        ((name, spec),) = d.items()
        ys = spec["y"] if isinstance(spec["y"], dict) else {name: spec["y"]}
        for path, fields in ys.items():
            files.add(path)
            cols = pd.read_csv(fx.paths.tables / path.removeprefix("results/mini/tables/")).columns
            assert spec["x"] in cols and set(fields) <= set(cols)
    assert len(files) == len(VARIANTS) + 2


def test_figures_and_sample_sheet(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    names = {p.name for p in fx.paths.figures.glob("*.png")}
    expected = {"sweep_severity.png", "sweep_label_sweep.png", "families.png", "samples_severity-3.png"}
    for v in VARIANTS:
        expected |= {f"roc_{v}.png", f"reliability_{v}.png", f"uncertainty_{v}.png"}
    assert names == expected
    for p in fx.paths.figures.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_is_byte_identical(reported_twice: dict) -> None:
    snap1, snap2 = reported_twice["snap1"], reported_twice["snap2"]
    assert snap1.keys() == snap2.keys()
    changed = [k for k in snap1 if snap1[k] != snap2[k]]
    assert changed == []


def test_sweep_lines_and_single_level_bars() -> None:
    params = make_params()
    fx_results = None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fx = make_results(Path(tmp), params, sheet=False)
        fx_results = collect(fx.params, fx.paths)
    palette = figs.Palette(tuple(METHODS))
    groups = sweeps(fx_results)
    assert [v.name for v in groups["severity"]] == ["severity-1", "severity-3", "severity-5"]
    with figs.style():
        multi = figs.sweep_figure("severity", groups["severity"], fx_results, palette, [])
        one = figs.sweep_figure("label_sweep", groups["label_sweep"], fx_results, palette, [])
    for ax in multi.axes:
        assert not [c for c in ax.containers if isinstance(c, BarContainer)]
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
        assert len(lines) == len(METHODS)
    for ax in one.axes:
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == len(METHODS)
        assert not [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_linestyle() == "-"]


def test_roc_matches_sklearn_with_ties() -> None:
    df = make_predictions(42, "clean", "mcd_image").to_pandas()
    positive = (df["split"] == "ood").to_numpy()
    curve = roc(df["epistemic"].to_numpy(), positive)
    assert curve is not None
    assert curve.auroc == pytest.approx(roc_auc_score(positive, df["epistemic"]), abs=1e-12)
    grid = roc_on_grid(curve, np.array([0.0, 1.0]))
    assert grid[-1] == 1.0
    assert roc(np.array([0.1, 0.2]), np.array([False, False])) is None


def test_reliability_bins_and_ece() -> None:
    conf = np.array([0.05, 0.15, 0.95, 0.95, 1.0])
    correct = np.array([0, 0, 1, 0, 1])
    rel = reliability(conf, correct, bins=10)
    assert rel.count.tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert rel.accuracy[9] == pytest.approx(2 / 3)
    expected = (1 * 0.05 + 1 * 0.15 + 3 * abs(2 / 3 - (0.95 + 0.95 + 1.0) / 3)) / 5
    assert rel.ece == pytest.approx(expected)


def test_paper_rows_only_where_the_setting_matches(tmp_path: Path) -> None:
    params = make_params(["clean", "conflict"], ["mcd_image"])
    fx = make_results(tmp_path, params, sheet=False)
    results = collect(fx.params, fx.paths)
    assert paper.PUBLISHED == ()  # no number is known from the spec: nothing may be invented
    published = (
        paper.PaperValue("clean", "mcd_image", "acc", 0.5, "test source", profile="mini"),
        paper.PaperValue("clean", "mcd_image", "acc", 0.9, "other profile", profile="full"),
    )
    table = tables.main_table(params, results, published)
    rows = table.frame
    assert list(rows["source"]) == ["this run", "paper", "this run"]
    paper_row = rows.iloc[1]
    assert paper_row["variant"] == "clean" and paper_row["acc"] == 0.5 and math.isnan(paper_row["ood_auroc"])
    assert "| paper |" in tables.to_markdown(table)
    assert 'class="paper"' in tables.to_html(table)
    empty = tables.main_table(params, results, ())
    assert "paper" not in set(empty.frame["source"]) and "no published value" in empty.caption


def test_latex_escaping() -> None:
    assert tables.latex_escape("a_b & 50% #1 {x} ~^\\") == (
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )


def test_missing_metrics_names_file_and_train_command(tmp_path: Path) -> None:
    params = make_params(["clean", "severity-3"], ["mcd_image", "rcml_fused"])
    fx = make_results(tmp_path, params, sheet=False)
    fx.paths.metrics("severity-3", "rcml_fused").unlink()
    with pytest.raises(InputError) as err:
        collect(fx.params, fx.paths)
    msg = err.value.one_line()
    assert "metrics/severity-3/rcml_fused.json" in msg and "lumabench train -v severity-3 -m rcml_fused" in msg
    fx = make_results(tmp_path / "p", params, sheet=False)
    fx.paths.predictions("clean", "mcd_image").unlink()
    with pytest.raises(InputError, match=r"predictions/clean/mcd_image\.parquet.*train -v clean -m mcd_image"):
        collect(fx.params, fx.paths)


def test_cli_reports_missing_input_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from lumabench.cli import main

    d = params_dict(["clean"], ["mcd_image"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(d))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "mini" / "metrics").mkdir(parents=True)
    res = CliRunner().invoke(main, ["report"])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.search(
        r"metrics/clean/mcd_image\.json.*lumabench train -v clean -m mcd_image", lines[0]
    )
