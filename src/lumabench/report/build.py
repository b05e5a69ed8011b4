"""Stage 8 end to end: collect results, write tables, figures, plot data, metrics.json, HTML, MLflow."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import click

from lumabench.io import atomic_dir, read_parquet, write_json, write_text
from lumabench.logs import progress
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.report import figures as figs
from lumabench.report import html, paper, plotdata, tables
from lumabench.report.collect import RunResult, VariantInfo, collect, flat_metrics, load_predictions, sweeps
from lumabench.report.curves import Reliability, Roc, ood_roc, reliability
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


def _per_variant_figures(
    params: Params, results: list[RunResult], palette: figs.Palette, fig_dir: Path, plot_dir: Path
) -> list[html.FigureEntry]:
    """ROC, reliability and histogram figures per variant, plus the ROC plot data for DVC."""
    out: list[html.FigureEntry] = []
    dpi = params.report.dpi
    for variant in progress(params.run.variants, "report figures", unit="variant"):
        preds = {r.method: load_predictions(r) for r in results if r.variant.name == variant}
        rocs: dict[str, Roc] = {}
        rels: dict[str, Reliability] = {}
        for method, df in preds.items():
            curve = ood_roc(df)
            if curve is not None:
                rocs[method] = curve
            test = df[df["split"] == "test"]
            if len(test):
                rels[method] = reliability(test["confidence"].to_numpy(), test["correct"].to_numpy())
        slug = figs.slug(variant)
        if rocs:
            plotdata.write_frame(plot_dir.parent / plotdata.roc_file(variant), plotdata.roc_frame(rocs))
            path = figs.save(figs.roc_figure(variant, rocs, palette), fig_dir / f"roc_{slug}.png", dpi)
            out.append(
                html.FigureEntry(
                    "OOD detection (ROC)",
                    f"ROC, {variant}",
                    path,
                    "OOD samples are positives, test samples negatives; score = epistemic uncertainty.",
                )
            )
        else:
            log.info("variant %s: no OOD and test rows in the predictions, no ROC", variant)
        if rels:
            path = figs.save(figs.reliability_figure(variant, rels, palette), fig_dir / f"reliability_{slug}.png", dpi)
            out.append(
                html.FigureEntry(
                    "Calibration (reliability diagrams)",
                    f"Reliability, {variant}",
                    path,
                    "Bars: accuracy per confidence bin; hatched: gap to perfect calibration (diagonal).",
                )
            )
        with_ood = {m: df for m, df in preds.items() if (df["split"] == "ood").any()}
        if with_ood:
            path = figs.save(
                figs.histogram_figure(variant, with_ood, palette), fig_dir / f"uncertainty_{slug}.png", dpi
            )
            out.append(
                html.FigureEntry(
                    "In-distribution vs OOD uncertainty",
                    f"Epistemic uncertainty histograms, {variant}",
                    path,
                    "Densities of epistemic uncertainty for test (in-distribution) and OOD samples.",
                )
            )
    return out


def _sweep_figures(
    params: Params, results: list[RunResult], palette: figs.Palette, fig_dir: Path, plot_dir: Path
) -> list[html.FigureEntry]:
    out: list[html.FigureEntry] = []
    clean = [r for r in results if r.variant.family == "clean" and not r.variant.is_sweep]
    for base, levels in sweeps(results).items():
        plotdata.write_frame(
            plot_dir.parent / plotdata.sweep_file(base), plotdata.sweep_frame(levels, results, params.run.methods)
        )
        fig = figs.sweep_figure(base, levels, results, palette, clean)
        path = figs.save(fig, fig_dir / f"sweep_{base}.png", params.report.dpi)
        kind = "bar chart (one level in this run)" if len(levels) == 1 else "one line per method"
        out.append(
            html.FigureEntry(
                "Uncertainty against noise level",
                f"Sweep {base} ({levels[0].family}) over {levels[0].sweep}",
                path,
                f"Accuracy, mean aleatoric and mean epistemic uncertainty on the test split; {kind}.",
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
                "Bars per method: accuracy, mean aleatoric and mean epistemic uncertainty on the test split.",
            )
        )
    return out


def _sample_sheets(params: Params, paths: Paths, fig_dir: Path) -> list[html.FigureEntry]:
    """One sheet per run variant whose test split is on disk (skipped with a log line otherwise)."""
    out: list[html.FigureEntry] = []
    for variant in params.run.variants:
        path = paths.variant(variant) / "test.parquet"
        if not path.is_file():
            log.info("no %s: skipping the sample sheet of variant %s", path, variant)
            continue
        table = read_parquet(path, VARIANT_ROWS, f"run `lumabench variants -v {variant}`")
        df = table.select(VARIANT_ROWS.names).to_pandas()
        if df.empty:
            log.info("%s has no rows: skipping its sample sheet", path)
            continue
        gen = rng(params.seed, "report", "sample_sheet", variant)
        rows = figs.pick_samples(df, params.report.sample_sheet_rows, gen)
        t = params.train
        fig = figs.sample_sheet_figure(variant, rows, t.n_fft, t.hop_length, min(t.n_mels, figs.SHEET_MELS))
        png = figs.save(fig, fig_dir / f"samples_{figs.slug(variant)}.png", params.report.dpi)
        out.append(
            html.FigureEntry(
                "Sample sheets",
                f"Samples of {variant}",
                png,
                "Test samples (noisy ones first where the variant injects noise), with the injected noise named.",
            )
        )
    return out


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
            "variants": ",".join(params.run.variants),
            "methods": ",".join(params.run.methods),
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
            "seed": str(params.seed),
        }
        run_params |= {f"method.{k}": str(v) for k, v in method.model_dump(mode="json").items() if k != "modalities"}
        run_params |= {f"train.{k}": str(v) for k, v in params.train.model_dump(mode="json").items()}
        own = by_variant.get(info.name, [])
        tags = common | {
            "lumabench.variant": info.name,
            "lumabench.method": r.method,
            "lumabench.role": "run",
            "lumabench.parent_figures": ", ".join(f"figures/{p.name}" for p in own),
        }
        vhash = variant_data_hash(prov, paths, info.name)
        if vhash:
            tags["lumabench.variant_data_hash"] = vhash
        children.append(
            RunSpec(
                key=f"{key}/{info.name}/{r.method}",
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
        "report: %d runs (%d variants x %d methods)", len(results), len(params.run.variants), len(params.run.methods)
    )
    built = tables.build(params, results, published)
    palette = figs.Palette(tuple(params.run.methods))
    with atomic_dir(paths.tables) as table_dir, atomic_dir(paths.figures) as fig_dir:
        tables.write(built, tables.long_frame(results), table_dir)
        plot_dir = table_dir / plotdata.PLOTS_DIR
        with figs.style():
            entries = _sweep_figures(params, results, palette, fig_dir, plot_dir)
            entries += _per_variant_figures(params, results, palette, fig_dir, plot_dir)
            entries += _sample_sheets(params, paths, fig_dir)
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
        "Uncertainties are reported in each method's own units; compare them within a method across variants.",
    ]
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
