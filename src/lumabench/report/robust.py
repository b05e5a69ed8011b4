"""Robustness pieces of the report: noise sweeps, per-modality σ², modality laziness, missing modalities.

Driven by `params.report`: `robustness_sweeps` (test-noise sweeps as in EAU, Gao et al., CVPR 2024:
Gaussian and salt-and-pepper image noise, word masking, and here audio SNR), `missing_sweep` (MLA's
Q2, Zhang et al., CVPR 2024: each modality missing at rate η in train and test), `ablation` (method
-> row label) and `laziness_pairs` (fused method -> the unimodal family it is compared with).

Every number is a metric of the train stage's JSON, aggregated as everywhere in the report (mean ±
sd over training seeds, `aggregate`). Each sweep's axis runs from no noise to most noise: the clean
variant of the run is its first point (level 0; for an SNR sweep, whose clean end is +∞ dB, the
first point of a reversed axis). A piece whose variants or methods are not in the run is skipped
and a note says so; a method without a value (no σ², no per-modality heads) has empty cells and
no line, never a zero.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lumabench.params import MODALITIES, Params
from lumabench.report import figures as figs
from lumabench.report.aggregate import EMPTY, Cell, Stat, cell_map, lower_is_noisier, seeds_note, seeds_of, stat
from lumabench.report.collect import RunResult, VariantInfo
from lumabench.report.html import FigureEntry
from lumabench.report.tables import Table, _put

log = logging.getLogger(__name__)

SECTION = "Robustness (test noise, missing modalities)"
SIGMA2 = {m: f"sigma2_{m}" for m in MODALITIES}
MODALITY_COLORS = {"image": "tab:blue", "audio": "tab:orange", "text": "tab:green"}
LAZINESS_NOTE = (
    "Modality laziness (Zhang et al., CVPR 2024): trained jointly, a multimodal model leans on the "
    "modality that fits fastest and the others learn less than they would alone; the gap is the accuracy "
    "of modality m's own head inside the fused model minus that of the same modality trained alone "
    "(negative = lazier inside the fused model)"
)


@dataclass(frozen=True)
class NoisePoint:
    """One point of a noise axis: where it is drawn (`x`), its sweep level and its label."""

    x: float
    level: float  # the sweep's level; the clean variant: 0, or +inf on an SNR axis
    label: str
    variant: VariantInfo


@dataclass(frozen=True)
class NoiseAxis:
    """A sweep of the run ordered from no noise to most noise, with the modalities it perturbs."""

    base: str
    title: str
    noised: tuple[str, ...]
    points: tuple[NoisePoint, ...]
    with_clean: bool
    lower_is_noisier: bool

    @property
    def variants(self) -> list[VariantInfo]:
        return [p.variant for p in self.points]

    @property
    def noised_text(self) -> str:
        return ", ".join(self.noised) if self.noised else "no modality"

    @property
    def xlabel(self) -> str:
        if self.lower_is_noisier and "noisier" not in self.title:
            return f"{self.title} (noisier →)"
        return self.title


@dataclass
class Robustness:
    """What `build` made: tables, and the axes and methods the figures draw; notes for skipped pieces."""

    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    noise_axes: list[NoiseAxis] = field(default_factory=list)
    missing_axis: NoiseAxis | None = None
    fused: list[str] = field(default_factory=list)
    sigma2_methods: list[str] = field(default_factory=list)


def noised_modalities(definition: object) -> tuple[str, ...]:
    """The modalities a (resolved) variant definition perturbs at test time."""
    family = getattr(definition, "family", "")
    out: list[str] = []
    for m in MODALITIES:
        if family == "sample_noise":
            cfg = getattr(definition, m)
            hit = cfg.test and cfg.ratio > 0
        elif family in ("missing", "label_noise"):
            rates = getattr(definition.rate, m)  # type: ignore[attr-defined]
            hit = rates.test > 0 or rates.train > 0
        elif family == "joint":
            hit = bool(getattr(definition, "test", False)) and getattr(definition, "ratio", 0) > 0
        else:
            hit = family == "conflict"
        if hit:
            out.append(m)
    return tuple(out)


def _fmt_level(level: float) -> str:
    return f"{level:g}"


def noise_axis(params: Params, results: Sequence[RunResult], base: str) -> tuple[NoiseAxis | None, str | None]:
    """The axis of sweep `base` over the run's levels (and clean), or None and why it is skipped."""
    definition = params.variants.definitions.get(base)
    if definition is None or definition.levels is None:
        return None, f"{base!r} is not a sweep of variants.definitions"
    in_run: dict[str, VariantInfo] = {}
    for r in results:
        in_run.setdefault(r.variant.name, r.variant)
    levels = [v for v in in_run.values() if v.base == base and v.level is not None]
    if not levels:
        wanted = ", ".join(params.variants.levels_of(base))
        return None, f"none of the levels of {base!r} ({wanted}) is in run.variants"
    snr = lower_is_noisier(definition)
    levels.sort(key=lambda v: float(v.level or 0.0), reverse=snr)  # least noise first
    clean = next((v for v in in_run.values() if v.family == "clean" and not v.is_sweep), None)
    with_clean = clean is not None and (snr or all(float(v.level or 0.0) != 0.0 for v in levels))
    points: list[NoisePoint] = []
    if with_clean and clean is not None:
        label = "clean (no noise)" if snr else "0 (clean)"
        points.append(NoisePoint(0.0, math.inf if snr else 0.0, label, clean))
    for v in levels:
        level = float(v.level or 0.0)
        x = float(len(points)) if snr else level  # SNR: equally spaced, noise growing to the right
        points.append(NoisePoint(x, level, _fmt_level(level), v))
    noised = noised_modalities(params.variants.resolve(levels[0].name))
    title = definition.sweep_title() or base
    return NoiseAxis(base, title, noised, tuple(points), with_clean, snr), None


def _fused(params: Params) -> list[str]:
    """The run's methods with two modalities or more."""
    return [m for m in params.run.all_methods() if len(params.methods[m].modalities) >= 2]


def _cell_stat(cells: dict[tuple[str, str], Cell], variant: str, method: str, section: str, name: str) -> Stat:
    cell = cells.get((variant, method))
    return cell.stat(section, name) if cell else EMPTY


def _per_modality(cell: Cell | None, modality: str, name: str = "acc") -> list[float]:
    """Per-seed values of per_modality.<modality>.<name> (NaN where a seed has none), in seed order."""
    if cell is None:
        return []
    out = []
    for r in cell.runs:
        raw = ((r.metrics.get("per_modality") or {}).get(modality) or {}).get(name)
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
        out.append(float(raw) if ok else math.nan)
    return out


def _has_sigma2(results: Sequence[RunResult], method: str) -> bool:
    return any(math.isfinite(r.value("test", SIGMA2[m])) for r in results if r.method == method for m in MODALITIES)


# ---------------------------------------------------------------- tables
def accuracy_table(
    name: str, axes: Sequence[NoiseAxis], methods: Sequence[str], results: Sequence[RunResult], what: str
) -> Table:
    """Rows: each axis's points from no noise to most; columns: test accuracy of each method (mean
    over seeds, sd and n beside); the best mean per row in bold."""
    cells = cell_map(list(results))
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    emphasis: set[tuple[int, str]] = set()
    for axis in axes:
        for p in axis.points:
            i = len(rows)
            row = _point_row(axis, p)
            for m in methods:
                row[m] = _put(sd, n, i, m, _cell_stat(cells, p.variant.name, m, "test", "acc"))
            values = [(m, row[m]) for m in methods if isinstance(row[m], float) and math.isfinite(row[m])]
            if len(values) > 1:
                best = max(v for _, v in values)
                emphasis |= {(i, m) for m, v in values if v == best}
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["sweep", "noised", "level", "variant", *methods])
    seeds = seeds_of(list(results))
    caption = (
        f"{what}: test accuracy (variant labels) of each fused method (columns) from no noise to the most noise "
        f"(rows; the clean variant is the no-noise point); 'noised' is the modality the sweep perturbs; "
        f"{seeds_note(seeds)}; best mean per row in bold; an empty cell is a run without that value."
    )
    headers = {"sweep": "Sweep", "noised": "Noised", "level": "Level", "variant": "Variant"}
    return Table(name, frame, caption, emphasis, sd, n, len(seeds), headers)


def _point_row(axis: NoiseAxis, p: NoisePoint) -> dict[str, object]:
    """The columns that say which sweep point a table row is."""
    return {"sweep": axis.base, "noised": axis.noised_text, "level": p.label, "variant": p.variant.name}


def sigma2_table(axes: Sequence[NoiseAxis], methods: Sequence[str], results: Sequence[RunResult]) -> Table:
    """Rows: (sweep point, method); columns: mean test σ² of each modality's embedding (EAU)."""
    cells = cell_map(list(results))
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    for axis in axes:
        for p in axis.points:
            for method in methods:
                i = len(rows)
                row = {**_point_row(axis, p), "method": method}
                for m in MODALITIES:
                    row[SIGMA2[m]] = _put(
                        sd, n, i, SIGMA2[m], _cell_stat(cells, p.variant.name, method, "test", SIGMA2[m])
                    )
                rows.append(row)
    frame = pd.DataFrame(rows, columns=["sweep", "noised", "level", "variant", "method", *SIGMA2.values()])
    seeds = seeds_of(list(results))
    caption = (
        "Per-modality aleatoric uncertainty σ² (mean over the test rows of each modality's embedding variance, "
        "averaged over its dimensions; EAU, Gao et al., CVPR 2024) against each test-noise sweep, from no noise "
        "(clean) to the most; 'noised' is the modality the sweep perturbs, so its σ² is the one expected to rise "
        f"and the others to stay; {seeds_note(seeds)}; empty where a method has no σ² for that modality."
    )
    headers = {
        "sweep": "Sweep",
        "noised": "Noised",
        "level": "Level",
        "variant": "Variant",
        "method": "Method",
        **{SIGMA2[m]: f"σ² {m}" for m in MODALITIES},
    }
    return Table("sigma2_noise", frame, caption, set(), sd, n, len(seeds), headers)


def laziness_table(
    params: Params, results: Sequence[RunResult], clean: str, methods: Sequence[str]
) -> tuple[Table, list[str]]:
    """Per fused method and modality on `clean`: the modality's head in the fused model, the same
    modality trained alone (`<family>_<m>` from report.laziness_pairs) and the gap (fused head −
    alone), each mean ± sd over seeds; the gap is taken per seed, on the seeds both runs have."""
    cells = cell_map(list(results))
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    lacking: dict[str, list[str]] = {}
    in_run = set(params.run.all_methods())
    for fused in methods:
        cell = cells.get((clean, fused))
        family = params.report.laziness_pairs.get(fused)
        for m in params.methods[fused].modalities:
            i = len(rows)
            own = _per_modality(cell, m)
            alone_name = f"{family}_{m}" if family else ""
            alone_cell = cells.get((clean, alone_name)) if alone_name in in_run else None
            if family and alone_cell is None:
                lacking.setdefault(alone_name, []).append(fused)
            by_seed = {r.seed: r.value("test", "acc") for r in alone_cell.runs} if alone_cell else {}
            seeds = [r.seed for r in cell.runs] if cell else []
            gaps = [o - by_seed[s] for s, o in zip(seeds, own, strict=True) if s in by_seed]
            rows.append(
                {
                    "method": fused,
                    "modality": m,
                    "alone": alone_name if alone_cell is not None else "",
                    "acc_in_fused": _put(sd, n, i, "acc_in_fused", stat(own)),
                    "acc_alone": _put(sd, n, i, "acc_alone", stat(by_seed.values())),
                    "gap": _put(sd, n, i, "gap", stat(gaps)),
                }
            )
    frame = pd.DataFrame(rows, columns=["method", "modality", "alone", "acc_in_fused", "acc_alone", "gap"])
    seeds_run = seeds_of(list(results))
    caption = (
        f"{LAZINESS_NOTE}. Variant {clean}, test accuracy (variant labels); the gap is computed per training "
        f"seed, then averaged; {seeds_note(seeds_run)}; empty where a method has no per-modality prediction or "
        "no unimodal model of that modality is in the run."
    )
    headers = {
        "method": "Fused method",
        "modality": "Modality",
        "alone": "Trained alone",
        "acc_in_fused": "Acc, own head in fused model",
        "acc_alone": "Acc, trained alone",
        "gap": "Gap (fused head − alone)",
    }
    notes = [f"laziness: {alone} is not in the run (compared with {', '.join(f)})" for alone, f in lacking.items()]
    return Table("laziness", frame, caption, set(), sd, n, len(seeds_run), headers), notes


def ablation_table(
    params: Params, results: Sequence[RunResult], methods: Sequence[str], columns: Sequence[NoisePoint]
) -> Table:
    """Rows: the ablation methods (report.ablation labels); columns: test accuracy on clean and on each
    missing-rate level of the run."""
    cells = cell_map(list(results))
    sd: dict[tuple[int, str], float] = {}
    n: dict[tuple[int, str], int] = {}
    rows: list[dict[str, object]] = []
    names = [p.variant.name for p in columns]
    for i, method in enumerate(methods):
        row: dict[str, object] = {"method": method, "setting": params.report.ablation[method]}
        for v in names:
            row[v] = _put(sd, n, i, v, _cell_stat(cells, v, method, "test", "acc"))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["method", "setting", *names])
    emphasis: set[tuple[int, str]] = set()
    for v in names:
        col = frame[v].dropna()
        if len(col) > 1:
            emphasis |= {(int(i), v) for i in col.index[col == col.max()]}
    headers = {"method": "Method", "setting": "Setting"}
    for p in columns:
        headers[p.variant.name] = "clean (η = 0)" if p.variant.level is None else f"η = {p.label}"
    seeds = seeds_of(list(results))
    caption = (
        "Ablation (the methods of report.ablation; by default MLA, Zhang et al., CVPR 2024, without head gradient "
        "modification, without dynamic fusion, without both): test accuracy (variant labels) on the clean variant "
        "and at each missing rate η of the run (each modality missing at rate η in train and test); "
        f"{seeds_note(seeds)}; best mean per column in bold."
    )
    return Table("ablation", frame, caption, emphasis, sd, n, len(seeds), headers)


# ---------------------------------------------------------------- assembling
def _clean_variant(results: Sequence[RunResult]) -> str | None:
    return next((r.variant.name for r in results if r.variant.family == "clean" and not r.variant.is_sweep), None)


def build(params: Params, results: Sequence[RunResult]) -> Robustness:
    """Every robustness table the run's variants and methods allow, and a note for each piece skipped."""
    out = Robustness()
    cfg = params.report
    out.fused = _fused(params)
    skip = out.notes.append
    for base in cfg.robustness_sweeps:
        axis, why = noise_axis(params, results, base)
        if axis is None:
            skip(f"robustness sweep {base} skipped: {why}")
        else:
            out.noise_axes.append(axis)
    if cfg.missing_sweep:
        out.missing_axis, why = noise_axis(params, results, cfg.missing_sweep)
        if out.missing_axis is None:
            skip(f"missing-modality sweep {cfg.missing_sweep} skipped: {why}")
    if not out.fused and (out.noise_axes or out.missing_axis):
        skip("robustness and missing-modality tables skipped: no method of the run has two modalities or more")
    elif out.fused:
        if out.noise_axes:
            out.tables.append(
                accuracy_table("robustness", out.noise_axes, out.fused, results, "Robustness to test-time noise")
            )
        if out.missing_axis is not None:
            out.tables.append(
                accuracy_table(
                    "missing_modalities", [out.missing_axis], out.fused, results, "Missing modalities (rate η)"
                )
            )
    out.sigma2_methods = [m for m in params.run.all_methods() if _has_sigma2(results, m)]
    if out.noise_axes and out.sigma2_methods:
        out.tables.append(sigma2_table(out.noise_axes, out.sigma2_methods, results))
    elif out.noise_axes:
        skip("per-modality σ² table skipped: no method of the run reports test.sigma2_<modality>")
    clean = _clean_variant(results)
    cells = cell_map(list(results))

    def has_heads(method: str) -> bool:
        cell = cells.get((clean or "", method))
        return any(math.isfinite(v) for mod in MODALITIES for v in _per_modality(cell, mod))

    with_heads = [m for m in out.fused if has_heads(m)]
    if clean is None:
        skip("modality-laziness table skipped: the run has no clean variant")
    elif not with_heads:
        skip("modality-laziness table skipped: no fused method of the run has per-modality predictions")
    else:
        listed = [m for m in out.fused if m in with_heads or m in cfg.laziness_pairs]
        table, notes = laziness_table(params, results, clean, listed)
        out.tables.append(table)
        out.notes.extend(notes)
    ablated = [m for m in cfg.ablation if m in params.run.all_methods()]
    if not ablated:
        skip(f"ablation table skipped: none of {', '.join(cfg.ablation) or 'its methods'} is in the run")
    else:
        columns = list(out.missing_axis.points) if out.missing_axis is not None else []
        if clean is not None and not any(p.variant.name == clean for p in columns):
            clean_info = next(r.variant for r in results if r.variant.name == clean)
            columns.insert(0, NoisePoint(0.0, 0.0, "0 (clean)", clean_info))
        if columns:
            out.tables.append(ablation_table(params, results, ablated, columns))
        else:
            skip("ablation table skipped: neither the clean variant nor a missing-rate level is in the run")
    for note in out.notes:
        log.info("report: %s", note)
    return out


# ---------------------------------------------------------------- figures
def _draw(
    ax: Axes, axis: NoiseAxis, stats: list[Stat], label: str, color: object, marker: str = "o", linestyle: str = "-"
) -> bool:
    """One line over the axis's points, ± sd error bars; nothing when no point has a value."""
    if all(s.empty for s in stats):
        return False
    xs = np.array([p.x for p in axis.points], dtype=np.float64)
    ys = np.array([s.mean for s in stats], dtype=np.float64)
    ax.errorbar(xs, ys, yerr=figs._yerr(stats), color=color, marker=marker, linestyle=linestyle, capsize=3, label=label)
    return True


def _ticks(ax: Axes, axis: NoiseAxis) -> None:
    ax.set_xticks([p.x for p in axis.points], [p.label.replace(" (", "\n(") for p in axis.points])
    ax.set_xlabel(axis.xlabel)


def sigma2_figure(axes: Sequence[NoiseAxis], methods: Sequence[str], results: Sequence[RunResult]) -> Figure:
    """One panel per (method with σ², noise sweep): mean test σ² of each modality against the level."""
    cells = cell_map(list(results))
    fig = figs.new_figure(max(5.0, 4.4 * len(axes) + 1.2), 3.4 * len(methods) + 0.6)
    panels = fig.subplots(len(methods), len(axes), squeeze=False)
    for row, method in zip(panels, methods, strict=True):
        for ax, axis in zip(row, axes, strict=True):
            drawn = False
            for k, m in enumerate(MODALITIES):
                stats = [_cell_stat(cells, p.variant.name, method, "test", SIGMA2[m]) for p in axis.points]
                style = "-" if m in axis.noised else "--"
                drawn |= _draw(ax, axis, stats, f"σ² {m}", MODALITY_COLORS[m], figs.MARKERS[k], style)
            _ticks(ax, axis)
            ax.set_title(f"{method}: {axis.base} (noises {axis.noised_text})")
            ax.set_ylabel("Mean σ² (test)")
            if drawn:
                ax.legend(loc="best")
    figs.suptitle(
        fig,
        "Per-modality aleatoric uncertainty σ² against test-time noise (solid: the noised modality)",
        seeds_note(seeds_of(list(results)), bars=True),
    )
    return fig


def accuracy_figure(
    axes: Sequence[NoiseAxis], methods: Sequence[str], results: Sequence[RunResult], palette: figs.Palette
) -> Figure:
    """One panel per sweep: test accuracy of each method against the level, mean ± sd over seeds."""
    cells = cell_map(list(results))
    fig = figs.new_figure(max(5.0, 4.4 * len(axes) + 1.4), 3.8)
    panels = fig.subplots(1, len(axes), squeeze=False)[0]
    for ax, axis in zip(panels, axes, strict=True):
        for method in methods:
            stats = [_cell_stat(cells, p.variant.name, method, "test", "acc") for p in axis.points]
            _draw(ax, axis, stats, method, palette.color(method), palette.marker(method))
        _ticks(ax, axis)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("Acc (variant labels, test)")
        ax.set_title(f"{axis.base} (noises {axis.noised_text})")
    panels[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figs.suptitle(
        fig, "Test accuracy of the fused methods against noise", seeds_note(seeds_of(list(results)), bars=True)
    )
    return fig


def figures(
    params: Params, built: Robustness, results: Sequence[RunResult], palette: figs.Palette, fig_dir: Path
) -> list[FigureEntry]:
    """The σ², robustness and missing-modality figures of what `build` found in the run."""
    out: list[FigureEntry] = []
    dpi = params.report.dpi
    note = seeds_note(seeds_of(list(results)), bars=True)
    sweeps = "; ".join(f"{a.base} noises {a.noised_text} ({a.title})" for a in built.noise_axes)
    if built.noise_axes and built.sigma2_methods:
        path = figs.save(
            sigma2_figure(built.noise_axes, built.sigma2_methods, results), fig_dir / "sigma2_vs_noise.png", dpi
        )
        out.append(
            FigureEntry(
                SECTION,
                "Per-modality aleatoric uncertainty σ² against test-time noise",
                path,
                "Mean test σ² of each modality's embedding (EAU's unimodal aleatoric uncertainty) against each "
                f"sweep's level, clean as the no-noise point; {sweeps}; the noised modality's line is solid; "
                f"one panel per method and sweep; {note}.",
            )
        )
    if built.noise_axes and built.fused:
        path = figs.save(
            accuracy_figure(built.noise_axes, built.fused, results, palette), fig_dir / "robustness.png", dpi
        )
        out.append(
            FigureEntry(
                SECTION,
                "Robustness of the fused methods to test-time noise",
                path,
                f"Test accuracy (variant labels) against each sweep's level, clean as the no-noise point; {sweeps}; "
                f"one line per method with two modalities or more; {note}.",
            )
        )
    if built.missing_axis is not None and built.fused:
        axis = built.missing_axis
        path = figs.save(
            accuracy_figure([axis], built.fused, results, palette), fig_dir / "missing_modalities.png", dpi
        )
        zero = "; η = 0 is the clean variant" if axis.with_clean else ""
        out.append(
            FigureEntry(
                SECTION,
                "Accuracy against the missing-modality rate",
                path,
                f"Test accuracy (variant labels) against {axis.title} ({axis.base}){zero}; one line per method with "
                f"two modalities or more; {note}.",
            )
        )
    return out


__all__ = ["NoiseAxis", "NoisePoint", "Robustness", "build", "figures", "noise_axis"]
