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
from matplotlib.container import BarContainer, ErrorbarContainer
from sklearn.metrics import roc_auc_score

from lumabench.errors import InputError
from lumabench.evaluate.metrics import calibration_bins
from lumabench.params import Params
from lumabench.report import figures as figs
from lumabench.report import paper, plotdata, tables
from lumabench.report.aggregate import sweep_axes
from lumabench.report.collect import collect
from lumabench.report.curves import averaged_roc, reliability, roc, roc_on_grid
from test_report_fixture import (
    METHODS,
    VARIANTS,
    make_params,
    make_predictions,
    make_results,
    params_dict,
    reported_twice,
    run_report,
)

__all__ = ["reported_twice"]


def _metrics(fx, v: str, m: str, seed: int | None = None) -> dict:  # type: ignore[no-untyped-def]
    seed = fx.params.run.seeds[0] if seed is None else seed
    return json.loads(fx.paths.metrics(v, m, seed).read_text())


def _over_seeds(fx, v: str, m: str, section: str, name: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([_metrics(fx, v, m, s)[section][name] for s in fx.params.run.seeds], dtype=np.float64)


def test_tables_hold_the_metrics(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    assert len(fx.params.run.seeds) == 2
    acc = pd.read_csv(fx.paths.tables / "accuracy.csv").set_index("method")
    assert list(acc.columns) == [c for v in VARIANTS for c in (v, f"{v}_sd")] and list(acc.index) == METHODS
    main = pd.read_csv(fx.paths.tables / "main.csv")
    assert len(main) == len(VARIANTS) * len(METHODS) and set(main["source"]) == {"this run"}
    assert set(main["seeds"]) == {2.0}
    assert (acc[[f"{v}_sd" for v in VARIANTS]] > 0).to_numpy().mean() > 0.8  # the seeds really differ
    for v in VARIANTS:
        for m in METHODS:
            accs = _over_seeds(fx, v, m, "test", "acc")
            assert acc.loc[m, v] == pytest.approx(accs.mean(), abs=1e-12)
            assert acc.loc[m, f"{v}_sd"] == pytest.approx(accs.std(ddof=1), abs=1e-12)
            row = main[(main.variant == v) & (main.method == m)].iloc[0]
            auroc = _over_seeds(fx, v, m, "ood", "auroc_epistemic")
            assert row["ood_auroc"] == pytest.approx(auroc.mean(), abs=1e-12)
            assert row["ood_auroc_sd"] == pytest.approx(auroc.std(ddof=1), abs=1e-12)
            assert row["epistemic"] == pytest.approx(_over_seeds(fx, v, m, "test", "epistemic").mean(), abs=1e-12)
    md = (fx.paths.tables / "main.md").read_text()
    tex = (fx.paths.tables / "main.tex").read_text()
    assert md.count("| this run |") == len(VARIANTS) * len(METHODS)
    assert "n = 2 training seeds (42, 43)" in md and "ddof = 1" in md
    # best mean accuracy per variant in bold, with its sd, in both renderings
    best = acc["clean"].idxmax()
    mean, sd = acc.loc[best, "clean"], acc.loc[best, "clean_sd"]
    assert f"**{mean:.3f} ± {sd:.3f}**" in md and f"\\textbf{{{mean:.3f} $\\pm$ {sd:.3f}}}" in tex
    assert "\\begin{tabular}" in tex and "label\\_sweep-0.3" in tex and "\\toprule" in tex
    long = pd.read_csv(fx.paths.tables / "results.csv")
    assert len(long) == len(VARIANTS) * len(METHODS) * 2 and sorted(long["seed"].unique()) == [42, 43]
    assert {"test_acc", "test_acc_original", "ood_auroc_epistemic", "per_modality_image_acc"} <= set(long.columns)
    assert {"train_seconds", "data_seed"} <= set(long.columns)
    assert sorted(long.loc[long.base == "severity", "level"].unique()) == [1.0, 3.0, 5.0]
    summary = pd.read_csv(fx.paths.tables / "results_summary.csv")
    assert len(summary) == len(VARIANTS) * len(METHODS) and set(summary["n_seeds"]) == {2}
    one = summary[(summary.variant == "severity-3") & (summary.method == "rcml_fused")].iloc[0]
    accs = _over_seeds(fx, "severity-3", "rcml_fused", "test", "acc")
    assert one["test_acc_mean"] == pytest.approx(accs.mean()) and one["test_acc_sd"] == pytest.approx(accs.std(ddof=1))


def test_metrics_json_for_dvc_has_seeds_and_aggregates(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    data = json.loads(fx.paths.metrics_summary.read_text())
    cells = {f"{v}/{m}" for v in VARIANTS for m in METHODS}
    assert set(data) == cells | {f"{c}/seed-{s}" for c in cells for s in (42, 43)}
    for key, values in data.items():
        v, m, *seed = key.split("/")
        assert all(isinstance(x, int | float) and math.isfinite(x) for x in values.values())
        assert not any(k.startswith("train_") for k in values)
        if seed:
            got = _metrics(fx, v, m, int(seed[0].removeprefix("seed-")))
            assert values["test_acc"] == got["test"]["acc"]
            assert values["ood_auroc_epistemic"] == got["ood"]["auroc_epistemic"]
        else:
            accs = _over_seeds(fx, v, m, "test", "acc")
            assert values["n_seeds"] == 2
            assert values["test_acc"] == pytest.approx(accs.mean())
            assert values["test_acc_sd"] == pytest.approx(accs.std(ddof=1))
    assert "per_modality_audio_acc" in data["clean/mcd_fused"]
    assert "test_vacuity" in data["clean/rcml_fused"] and "test_vacuity" not in data["clean/mcd_fused"]
    assert list(data) == sorted(data)


def test_plot_files_for_dvc(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    sweep = pd.read_csv(fx.paths.tables / plotdata.sweep_file("severity"))
    assert list(sweep["level"]) == [0.0, 1.0, 3.0, 5.0]  # level 0 = the clean variant
    assert list(sweep["variant"]) == ["clean", "severity-1", "severity-3", "severity-5"]
    for m in METHODS:
        accs = [_over_seeds(fx, v, m, "test", "acc") for v in sweep["variant"]]
        assert sweep[f"acc_{m}"].tolist() == pytest.approx([a.mean() for a in accs])
        assert sweep[f"acc_{m}_sd"].tolist() == pytest.approx([a.std(ddof=1) for a in accs])
        assert sweep[f"acc_{m}"].is_monotonic_decreasing  # the fixture's noise hurts every method
        originals = [_over_seeds(fx, v, m, "test", "acc_original").mean() for v in sweep["variant"]]
        assert sweep[f"acc_original_{m}"].tolist() == pytest.approx(originals)
    label = pd.read_csv(fx.paths.tables / plotdata.sweep_file("label_sweep"))
    assert list(label["level"]) == [0.0, 0.3]
    for v in VARIANTS:
        frame = pd.read_csv(fx.paths.tables / plotdata.roc_file(v))
        assert list(frame.columns) == ["fpr", *(c for m in METHODS for c in (m, f"{m}_sd"))]
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
    assert len(files) == len(VARIANTS) + 2 * 2  # ROC per variant; sweep and aleatoric file per sweep


def test_dvc_yaml_plot_entries_keep_their_names() -> None:
    """The entries dvc.yaml already declares are generated unchanged (new ones are only added)."""
    names = [next(iter(d)) for d in plotdata.dvc_plot_definitions(make_params(), "t")]
    for base in ("severity", "label_sweep"):
        assert [n for n in names if n.startswith(f"sweep_{base}_")][:3] == [
            f"sweep_{base}_acc",
            f"sweep_{base}_aleatoric",
            f"sweep_{base}_epistemic",
        ]
        assert f"aleatoric_{base}" in names


def test_figures_and_sample_sheet(reported_twice: dict) -> None:
    fx = reported_twice["fx"]
    names = {p.name for p in fx.paths.figures.glob("*.png")}
    expected = {"sweep_severity.png", "sweep_label_sweep.png", "families.png", "samples_severity-3.png"}
    expected |= {"aleatoric_vs_noise.png"}
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


def _errorbars(ax) -> list[ErrorbarContainer]:  # type: ignore[no-untyped-def]
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_sweep_lines_have_sd_error_bars_and_single_level_bars(tmp_path: Path) -> None:
    fx = make_results(tmp_path / "a", make_params(["clean", "severity-1", "severity-5"]), sheet=False)
    results = collect(fx.params, fx.paths)
    palette = figs.Palette(tuple(METHODS))
    (axis,) = sweep_axes(fx.params, results)
    assert axis.with_clean and axis.levels == [0.0, 1.0, 5.0]
    with figs.style():
        multi = figs.sweep_figure(axis, results, palette)
    ylabels = [ax.get_ylabel() for ax in multi.axes[:4]]
    assert ylabels[0].startswith("Acc (variant labels") and ylabels[1].startswith("Acc (original labels")
    assert "nats" in ylabels[2] and "nats" in ylabels[3]
    assert "n = 2 training seeds (42, 43), error bars ± 1 sd" in " ".join(multi.get_suptitle().split())
    for ax, (section, metric, _) in zip(multi.axes[:4], figs.QUANTITIES, strict=True):
        assert not [c for c in ax.containers if isinstance(c, BarContainer)]
        bars = _errorbars(ax)
        assert len(bars) == len(METHODS)
        for container, m in zip(bars, METHODS, strict=True):
            line, _, (segments,) = container.lines
            assert list(line.get_xdata()) == [0.0, 1.0, 5.0]
            for seg, v in zip(segments.get_segments(), ["clean", "severity-1", "severity-5"], strict=True):
                vals = _over_seeds(fx, v, m, section, metric)
                assert seg[1, 1] - seg[0, 1] == pytest.approx(2 * vals.std(ddof=1))  # ± 1 sd
                assert (seg[1, 1] + seg[0, 1]) / 2 == pytest.approx(vals.mean())

    # a sweep with one level and no clean variant in the run: grouped bars, also with error bars
    fx = make_results(tmp_path / "b", make_params(["label_sweep-0.3"]), sheet=False)
    results = collect(fx.params, fx.paths)
    (axis,) = sweep_axes(fx.params, results)
    assert not axis.with_clean and axis.levels == [0.3]
    with figs.style():
        one = figs.sweep_figure(axis, results, palette)
    for ax in one.axes[:4]:
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == len(METHODS) and all(b.errorbar is not None for b in bars)


def test_one_seed_draws_no_error_bars_and_says_n_1(tmp_path: Path) -> None:
    fx = make_results(tmp_path, make_params(["clean", "severity-3"], ["mcd_image"], [7]), sheet=False)
    results = collect(fx.params, fx.paths)
    (axis,) = sweep_axes(fx.params, results)
    with figs.style():
        fig = figs.aleatoric_figure([axis], results, figs.Palette(("mcd_image",)))
    ((container,),) = [_errorbars(ax) for ax in fig.axes[:1]]
    assert container.has_yerr is False
    assert "n = 1 training seed (7)" in " ".join(fig.get_suptitle().split()) and "±" not in fig.get_suptitle()
    table = tables.main_table(fx.params, results, ())
    md = tables.to_markdown(table)
    assert "±" not in md.split("\n\n", 1)[-1] and "n = 1 training seed (7): single runs, no sd" in table.caption


def test_roc_matches_sklearn_with_ties() -> None:
    df = make_predictions(42, "clean", "mcd_image").to_pandas()
    positive = (df["split"] == "ood").to_numpy()
    curve = roc(df["epistemic"].to_numpy(), positive)
    assert curve is not None
    assert np.trapezoid(curve.tpr, curve.fpr) == pytest.approx(roc_auc_score(positive, df["epistemic"]), abs=1e-12)
    grid = roc_on_grid(curve, np.array([0.0, 1.0]))
    assert grid[-1] == 1.0
    assert roc(np.array([0.1, 0.2]), np.array([False, False])) is None
    other = roc(df["epistemic"].to_numpy()[::-1], positive)
    assert other is not None
    mean, sd = averaged_roc([curve, other], np.array([0.1, 0.5]))
    both = np.stack([roc_on_grid(curve, np.array([0.1, 0.5])), roc_on_grid(other, np.array([0.1, 0.5]))])
    assert mean == pytest.approx(both.mean(axis=0)) and sd == pytest.approx(both.std(axis=0, ddof=1))


def test_reliability_uses_the_metrics_bins() -> None:
    """15 right-closed bins, exactly `evaluate.metrics.calibration_bins` (the bins the ECE sums over)."""
    conf = np.array([0.0, 1 / 15, 0.1, 2 / 15, 0.95, 0.95, 1.0])
    correct = np.array([0, 1, 0, 0, 1, 0, 1])
    rel = reliability(conf, correct)
    assert rel.count.tolist() == [2, 2] + [0] * 11 + [0, 3]
    assert rel.accuracy[0] == pytest.approx(0.5) and rel.accuracy[14] == pytest.approx(2 / 3)
    assert np.isnan(rel.accuracy[5]) and rel.edges.size == 16
    count, acc, mean_conf = calibration_bins(conf, correct, bins=15)
    assert np.array_equal(rel.count, count)
    assert np.allclose(rel.accuracy, acc, equal_nan=True) and np.allclose(rel.confidence, mean_conf, equal_nan=True)


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
    assert "| paper |  | 0.500 |" in tables.to_markdown(table)  # no seed count, no sd: one published number
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
    fx.paths.metrics("severity-3", "rcml_fused", 42).unlink()
    with pytest.raises(InputError) as err:
        collect(fx.params, fx.paths)
    msg = err.value.one_line()
    assert "metrics/severity-3/rcml_fused/seed-42.json" in msg and "train -v severity-3 -m rcml_fused -s 42" in msg
    fx = make_results(tmp_path / "p", params, sheet=False)
    fx.paths.predictions("clean", "mcd_image", 42).unlink()
    with pytest.raises(InputError, match=r"predictions/clean/mcd_image/seed-42\.parquet.*-m mcd_image -s 42"):
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
        r"metrics/clean/mcd_image/seed-42\.json.*lumabench train -v clean -m mcd_image -s 42", lines[0]
    )


def test_one_process_draws_the_same_figures_in_the_same_order(reported_twice: dict, tmp_path: Path) -> None:
    """`report.workers: 1` draws every figure in the main process; the default pool (one job for the
    run-wide figures, one per variant with its sample sheet) must give the same bytes in the same order."""
    pooled = reported_twice["fx"]
    d = params_dict()
    d["report"]["workers"] = 1
    fx = make_results(tmp_path, Params.model_validate(d))
    alone = run_report(fx)
    first = reported_twice["first"]
    assert [(e.section, e.title, e.path.name) for e in alone.figures] == [
        (e.section, e.title, e.path.name) for e in first.figures
    ]
    sections = [e.section for e in first.figures]
    assert sections.index("Sample sheets") > max(i for i, s in enumerate(sections) if s.startswith("OOD"))
    names = sorted(p.name for p in pooled.paths.figures.glob("*.png"))
    assert names == sorted(p.name for p in fx.paths.figures.glob("*.png"))
    differ = [n for n in names if (pooled.paths.figures / n).read_bytes() != (fx.paths.figures / n).read_bytes()]
    assert differ == []


@pytest.mark.parametrize("n", [1, 5, 14])
def test_panel_grids_keep_every_label_inside_the_figure_and_off_other_panels(n: int) -> None:
    """The per-variant grids use a fixed layout (no solver): every title, axis label and tick label
    lies inside the figure, the suptitle clears the first row's titles, and no panel's text runs
    into another panel, for one panel, one row and five rows."""
    from matplotlib.transforms import Bbox

    from lumabench.report.curves import Reliability

    rng = np.random.default_rng(n)
    names = [f"{('mcd', 'de', 'mla')[i % 3]}_method_{i}" for i in range(n)]
    palette = figs.Palette(tuple(names))
    edges = np.linspace(0, 1, 16)
    rels = {
        m: Reliability(edges, rng.integers(1, 9, 15), np.sort(rng.random(15)), (edges[1:] + edges[:-1]) / 2)
        for m in names
    }
    preds = {m: pd.DataFrame({"epistemic": rng.gamma(2, 0.1, 60), "split": ["test", "ood"] * 30}) for m in names}
    with figs.style():
        drawn = [
            figs.reliability_figure("severity-3", rels, {}, palette, 2),
            figs.histogram_figure("a_long_variant_name-0.5", preds, palette, 2),
        ]
    for fig in drawn:
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        page = Bbox.from_bounds(0, 0, *fig.canvas.get_width_height()).expanded(1.001, 1.001)
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert len(axes) == n
        # each panel with everything it draws: tick labels, axis labels, title, legend
        boxes = [ax.get_tightbbox(r) for ax in axes]
        top = fig._suptitle.get_window_extent(r)
        for box in [top, *boxes]:
            assert page.contains(box.x0, box.y0) and page.contains(box.x1, box.y1), (box, page)
        for i, box in enumerate(boxes):
            assert not top.overlaps(box), axes[i].get_title()
            for j in range(i + 1, len(boxes)):
                assert not box.overlaps(boxes[j]), (axes[i].get_title(), axes[j].get_title())
