"""Stage 8 end to end: collect results, write tables, figures, plot data, metrics.json, HTML, MLflow."""

from __future__ import annotations

import logging
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from lumabench.io import atomic_dir, read_parquet, write_json, write_text
from lumabench.logs import progress
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.pools import ordered_map, workers
from lumabench.report import figures as figs
from lumabench.report import html, mismatch, paper, plotdata, robust, tables
from lumabench.report.aggregate import Cell, Stat, cells, seeds_note, seeds_of, sweep_axes
from lumabench.report.collect import RunResult, VariantInfo, collect, flat_metrics, load_predictions
from lumabench.report.curves import RELIABILITY_BINS, Reliability, Roc, ood_roc, reliability
from lumabench.schemas import VARIANT_ROWS
from lumabench.seeding import rng
from lumabench.tracking import (
    Provenance,
    RunSpec,
    base_tags,
    data_tags,
    log_report,
    provenance,
    report_key,
    variant_data_hash,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the report wrote, for the final summary and the tests."""

    html: Path
    headline: str
    figures: list[html.FigureEntry]
    tracking_uri: str | None
    parent_run_id: str | None


def calibration_panel(cell: Cell, preds: list[pd.DataFrame]) -> tuple[Reliability, Stat] | None:
    """Reliability bins of the cell's pooled test predictions (all seeds) and its ECE from the metrics
    files (mean ± sd over seeds); None without test rows."""
    tests = [df[df["split"] == "test"] for df in preds]
    tests = [t for t in tests if len(t)]
    if not tests:
        return None
    conf = np.concatenate([t["confidence"].to_numpy(np.float64) for t in tests])
    correct = np.concatenate([t["correct"].to_numpy(bool) for t in tests])
    return reliability(conf, correct), cell.stat("test", "ece")


def _all_figures(
    params: Params,
    paths: Paths,
    results: list[RunResult],
    palette: figs.Palette,
    fig_dir: Path,
    plot_dir: Path,
    robustness: robust.Robustness,
    mismatched: mismatch.Mismatch,
) -> list[html.FigureEntry]:
    """Every figure and its plot data: the run-wide ones (sweeps, robustness, train/deploy mismatch),
    then per variant its ROC, reliability and histogram figures, then the sample sheets.

    These are independent jobs, so `report.workers` processes draw them (forked: they inherit the
    style, the predictions' cells and the robustness results): the run-wide figures are one job,
    started first, and each variant with its sample sheet is one job. The entries come back in the
    order above, and each figure is the same bytes whichever process drew it.
    """
    grid = cells(results)

    def run_wide() -> list[html.FigureEntry]:
        out = _sweep_figures(params, results, palette, fig_dir, plot_dir)
        out += robust.figures(params, robustness, results, palette, fig_dir)
        return out + mismatch.figures(mismatched, fig_dir, params.report.dpi, palette)

    seeds = seeds_of(results)
    jobs: list[tuple[str, list[Cell]] | None] = [None]
    jobs += [(variant, [c for c in grid if c.variant.name == variant]) for variant in params.run.variants]

    def job(j: tuple[str, list[Cell]] | None) -> tuple[list[html.FigureEntry], list[html.FigureEntry]]:
        if j is None:
            return run_wide(), []
        return _variant_figures(j, params, paths, palette, fig_dir, plot_dir, seeds)

    n = min(len(jobs), workers(params.report.workers))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        parts = [job(j) for j in progress(jobs, "report figures", unit="job")]
    else:
        _FORKED["job"], _FORKED["jobs"] = job, jobs
        try:
            done = ordered_map(_forked_job, range(len(jobs)), n, multiprocessing.get_context("fork"))
            parts = list(progress(done, "report figures", total=len(jobs), unit="job"))
        finally:
            _FORKED.clear()
    return [e for part, _ in parts for e in part] + [e for _, sheets in parts for e in sheets]


# what forked figure workers read (set just before the pool forks, cleared after): no pickling of the cells
_FORKED: dict[str, Any] = {}


def _forked_job(i: int) -> tuple[list[html.FigureEntry], list[html.FigureEntry]]:
    return _FORKED["job"](_FORKED["jobs"][i])


def _variant_figures(
    job: tuple[str, list[Cell]],
    params: Params,
    paths: Paths,
    palette: figs.Palette,
    fig_dir: Path,
    plot_dir: Path,
    seeds: list[int],
) -> tuple[list[html.FigureEntry], list[html.FigureEntry]]:
    """One variant's ROC, reliability and histogram figures (and its ROC plot data), and its sample sheet."""
    variant, own = job
    dpi = params.report.dpi
    out: list[html.FigureEntry] = []
    n_seeds = len(seeds)
    note = seeds_note(seeds)
    preds = {c.method: [load_predictions(r) for r in c.runs] for c in own}
    rocs: dict[str, list[Roc]] = {}
    rels: dict[str, Reliability] = {}
    eces: dict[str, Stat] = {}
    aurocs: dict[str, Stat] = {}
    for c in own:
        curves = [curve for curve in (ood_roc(df) for df in preds[c.method]) if curve is not None]
        if curves:
            rocs[c.method] = curves
            aurocs[c.method] = c.stat("ood", "auroc_epistemic")
        panel = calibration_panel(c, preds[c.method])
        if panel is not None:
            rels[c.method], eces[c.method] = panel
    slug = figs.slug(variant)
    if rocs:
        plotdata.write_frame(plot_dir.parent / plotdata.roc_file(variant), plotdata.roc_frame(rocs))
        path = figs.save(figs.roc_figure(variant, rocs, aurocs, palette), fig_dir / f"roc_{slug}.png", dpi)
        out.append(
            html.FigureEntry(
                "OOD detection (ROC)",
                f"ROC, {variant}",
                path,
                "OOD samples are positives, test samples negatives; score = epistemic uncertainty (nats). "
                "With several seeds the curve is the vertical average (mean TPR at each FPR, band ± sd); "
                f"AUROC from the metrics files; {note}.",
            )
        )
    else:
        log.info("variant %s: no OOD and test rows in the predictions, no ROC", variant)
    if rels:
        fig = figs.reliability_figure(variant, rels, eces, palette, n_seeds)
        path = figs.save(fig, fig_dir / f"reliability_{slug}.png", dpi)
        out.append(
            html.FigureEntry(
                "Calibration (reliability diagrams)",
                f"Reliability, {variant}",
                path,
                f"Bars: accuracy (variant labels) per confidence bin, {RELIABILITY_BINS} right-closed "
                "equal-width bins as in the metrics' ECE, test predictions of every seed pooled; hatched: "
                f"gap to perfect calibration (diagonal). ECE from the metrics files; {note}.",
            )
        )
    with_ood = {m: pd.concat(dfs) for m, dfs in preds.items() if any((df["split"] == "ood").any() for df in dfs)}
    if with_ood:
        path = figs.save(
            figs.histogram_figure(variant, with_ood, palette, n_seeds), fig_dir / f"uncertainty_{slug}.png", dpi
        )
        out.append(
            html.FigureEntry(
                "In-distribution vs OOD uncertainty",
                f"Epistemic uncertainty histograms, {variant}",
                path,
                "Densities of epistemic uncertainty (nats) for test (in-distribution) and OOD samples, "
                f"predictions of n = {n_seeds} seeds pooled.",
            )
        )
    return out, _sample_sheet(params, paths, fig_dir, variant)


def _sweep_figures(
    params: Params, results: list[RunResult], palette: figs.Palette, fig_dir: Path, plot_dir: Path
) -> list[html.FigureEntry]:
    """Sweep figures and their plot data, the aleatoric-against-noise figure and the family bars."""
    out: list[html.FigureEntry] = []
    bars_note = seeds_note(seeds_of(results), bars=True)
    axes = sweep_axes(params, results)
    for axis in axes:
        methods = params.run.methods_for(axis.base)
        plotdata.write_frame(
            plot_dir.parent / plotdata.sweep_file(axis.base), plotdata.sweep_frame(axis, results, methods)
        )
        path = figs.save(
            figs.sweep_figure(axis, results, palette), fig_dir / f"sweep_{axis.base}.png", params.report.dpi
        )
        kind = "bars (one level in this run)" if len(axis.points) == 1 else "one line per method"
        zero = "; level 0 is the clean variant" if axis.with_clean else ""
        out.append(
            html.FigureEntry(
                "Uncertainty against noise level",
                f"Sweep {axis.base} ({axis.family}) over {axis.title}",
                path,
                f"Test accuracy against the variant labels (after label switching) and against the original labels "
                f"(true classes), mean aleatoric and mean epistemic uncertainty (nats) on the test split, against "
                f"{axis.title}{zero}; {kind}; {bars_note}.",
            )
        )
    if axes:
        for axis in axes:
            methods = params.run.methods_for(axis.base)
            plotdata.write_frame(
                plot_dir.parent / plotdata.aleatoric_file(axis.base), plotdata.aleatoric_frame(axis, results, methods)
            )
        path = figs.save(
            figs.aleatoric_figure(axes, results, palette), fig_dir / "aleatoric_vs_noise.png", params.report.dpi
        )
        zero = "; level 0 is the clean variant" if any(a.with_clean for a in axes) else ""
        out.append(
            html.FigureEntry(
                "Uncertainty against noise level",
                "Aleatoric uncertainty against injected noise",
                path,
                "Mean test aleatoric uncertainty (expected entropy over model samples, nats) against "
                + ", ".join(f"{a.title} ({a.base})" for a in axes)
                + f"{zero}; one line per method; {bars_note}.",
            )
        )
    singles: list[VariantInfo] = []
    for r in results:
        if not r.variant.is_sweep and r.variant not in singles:
            singles.append(r.variant)
    if singles:
        path = figs.save(figs.families_figure(singles, results, palette), fig_dir / "families.png", params.report.dpi)
        out.append(
            html.FigureEntry(
                "Uncertainty against noise level",
                "Variant families at their single setting",
                path,
                "Bars per method: test accuracy against the variant labels and against the original labels, mean "
                f"aleatoric and mean epistemic uncertainty (nats) on the test split; {bars_note}.",
            )
        )
    return out


def _sample_sheet(params: Params, paths: Paths, fig_dir: Path, variant: str) -> list[html.FigureEntry]:
    """The variant's sample sheet, if its test split is on disk (skipped with a log line otherwise)."""
    path = paths.variant(variant) / "test.parquet"
    if not path.is_file():
        log.info("no %s: skipping the sample sheet of variant %s", path, variant)
        return []
    table = read_parquet(path, VARIANT_ROWS, f"run `lumabench variants -v {variant}`")
    df = table.select(VARIANT_ROWS.names).to_pandas()
    if df.empty:
        log.info("%s has no rows: skipping its sample sheet", path)
        return []
    gen = rng(params.seed, "report", "sample_sheet", variant)
    rows = figs.pick_samples(df, params.report.sample_sheet_rows, gen)
    t = params.train
    fig = figs.sample_sheet_figure(variant, rows, t.n_fft, t.hop_length, min(t.n_mels, figs.SHEET_MELS))
    png = figs.save(fig, fig_dir / f"samples_{figs.slug(variant)}.png", params.report.dpi)
    return [
        html.FigureEntry(
            "Sample sheets",
            f"Samples of {variant}",
            png,
            "Test samples (noisy ones first where the variant injects noise), with the injected noise named.",
        )
    ]


def _run_specs(
    params: Params, paths: Paths, prov: Provenance, results: list[RunResult], figures: list[html.FigureEntry]
) -> tuple[RunSpec, list[RunSpec]]:
    key = report_key(params, prov)
    common = base_tags(prov, params.profile)
    accs = [r.value("test", "acc") for r in results]
    finite = [a for a in accs if math.isfinite(a)]
    parent = RunSpec(
        key=key,
        name=f"report {params.profile} {prov.params_hash}",
        params={
            "profile": params.profile,
            "seed": str(params.seed),
            "seeds": ",".join(str(s) for s in seeds_of(results)),
            "variants": ",".join(params.run.variants),
            "methods": ",".join(params.run.all_methods()),
        },
        metrics={"summary/mean_test_acc": sum(finite) / len(finite)} if finite else {},
        tags=common | data_tags(prov) | {"lumabench.role": "report"},
        artifacts=[
            (paths.report_html, None),
            (paths.metrics_summary, None),
            (paths.tables, "tables"),
            (paths.figures, "figures"),
        ],
    )
    # nested runs carry their variant's ROC figure; the larger per-variant grids (reliability,
    # histograms, samples) are stored once, in the parent run, and named in a tag
    by_variant: dict[str, list[Path]] = {}
    for f in figures:
        for variant in params.run.variants:
            if f.path.stem.endswith(f"_{figs.slug(variant)}"):
                by_variant.setdefault(variant, []).append(f.path)
    children = []
    for r in results:
        method = params.methods[r.method]
        info = r.variant
        run_params = {
            "variant": info.name,
            "variant_base": info.base,
            "family": info.family,
            "sweep": info.sweep or "",
            "level": "" if info.level is None else repr(info.level),
            "method": r.method,
            "kind": method.kind,
            "modalities": ",".join(method.modalities),
            "profile": params.profile,
            "seed": str(r.seed),
            "data_seed": str(params.seed),
        }
        run_params |= {f"method.{k}": str(v) for k, v in method.model_dump(mode="json").items() if k != "modalities"}
        run_params |= {f"train.{k}": str(v) for k, v in params.train.model_dump(mode="json").items()}
        own = by_variant.get(info.name, [])
        tags = common | {
            "lumabench.variant": info.name,
            "lumabench.method": r.method,
            "lumabench.seed": str(r.seed),
            "lumabench.role": "run",
            "lumabench.parent_figures": ", ".join(f"figures/{p.name}" for p in own),
        }
        vhash = variant_data_hash(prov, paths, info.name)
        if vhash:
            tags["lumabench.variant_data_hash"] = vhash
        children.append(
            RunSpec(
                key=f"{key}/{r.key}",
                name=r.key,
                params=run_params,
                metrics=flat_metrics(r),
                tags=tags,
                artifacts=[(p, "figures") for p in own if p.name.startswith("roc_")],
            )
        )
    return parent, children


def run(params: Params, paths: Paths, published: tuple[paper.PaperValue, ...] = paper.PUBLISHED) -> Outcome:
    """Build every report output from the run's metrics and predictions, then log to MLflow."""
    results = collect(params, paths)
    log.info(
        "report: %d runs (%d variants x %d methods x %d seeds)",
        len(results),
        len(params.run.variants),
        len(params.run.all_methods()),
        len(seeds_of(results)),
    )
    built = tables.build(params, results, published)
    robustness = robust.build(params, results)
    built += robustness.tables
    mismatched = mismatch.load(paths)
    built += mismatched.tables
    palette = figs.Palette(tuple(params.run.all_methods()))
    with atomic_dir(paths.tables) as table_dir, atomic_dir(paths.figures) as fig_dir:
        tables.write(built, tables.long_frame(results), tables.summary_frame(results), table_dir)
        plot_dir = table_dir / plotdata.PLOTS_DIR
        with figs.style():
            entries = _all_figures(params, paths, results, palette, fig_dir, plot_dir, robustness, mismatched)
    entries = [html.FigureEntry(e.section, e.title, paths.figures / e.path.name, e.caption) for e in entries]
    write_json(paths.metrics_summary, tables.dvc_metrics(results))
    prov = provenance(params, paths)
    notes = [
        "Paper numbers: "
        + (
            "rows labelled 'paper' are published values for the same variant and method ("
            + "; ".join(paper.sources(published))
            + ")."
            if published
            else "no published LUMA value is recorded in this project, so every number is from this run."
        ),
        "Seeds: every table value is the mean over the training seeds with its sample standard deviation "
        f"(ddof = 1), shown as mean ± sd; {seeds_note(seeds_of(results))}. Figures draw ± 1 sd error bars. "
        "results.csv has one row per seed, results_summary.csv the aggregates.",
        f"Accuracy: {tables.LABELS_NOTE}.",
        f"Units: {tables.UNITS_NOTE}.",
        "Excluded rows: rows a model had no input for (e.g. a unimodal model on rows missing its modality) "
        "are left out of every metric; the main table counts them per run (test and OOD).",
    ]
    if robustness.notes:
        notes.append("Robustness pieces not drawn for this run: " + "; ".join(robustness.notes) + ".")
    if mismatched.sentence:
        notes.append(f"Train/deploy modality mismatch (robustness stage): {mismatched.sentence}")
    notes += [f"{n[0].upper()}{n[1:]}." for n in mismatched.notes]
    doc = html.render(f"lumabench report ({params.profile})", params.profile, prov, built, entries, notes)
    write_text(paths.report_html, doc)
    parent, children = _run_specs(params, paths, prov, results, entries)
    uri, parent_id, _ = log_report(params, paths, prov, parent, children)
    headline = tables.to_markdown(built[1])
    click.echo(f"Report: {paths.report_html}")
    click.echo(f"Tables: {paths.tables}  Figures: {paths.figures}  Metrics: {paths.metrics_summary}")
    click.echo(f"MLflow: {uri} (parent run {parent_id})")
    click.echo("Test accuracy (this run):")
    click.echo(headline, nl=False)
    return Outcome(paths.report_html, headline, entries, uri, parent_id)
