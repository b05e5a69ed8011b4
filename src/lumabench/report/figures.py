"""Report figures (PNG, Agg, one style): sweeps, family bars, ROC, reliability, histograms, samples.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never pyplot, so nothing
touches global plotting state, and PNGs carry no software/date metadata so reruns are identical.
"""

from __future__ import annotations

import io
import logging
import math
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lumabench.io import write_bytes
from lumabench.report.aggregate import EMPTY, Cell, Stat, SweepAxis, cell_map, seeds_note, seeds_of
from lumabench.report.collect import RunResult, VariantInfo, level_label
from lumabench.report.curves import ROC_GRID, Reliability, Roc, averaged_roc

log = logging.getLogger(__name__)

STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
}
MARKERS = "osD^vP*Xh<>p"
#: a panel grid's left margin, bottom margin, gap between columns and gap between rows, in inches:
#: tick labels and an axis label at the left and below each panel, a panel title above it
PANEL_MARGINS = (0.62, 0.5, 0.72, 0.85)
QUANTITIES = (
    ("test", "acc", "Acc (variant labels, test)"),
    ("test", "acc_original", "Acc (original labels, test)"),
    ("test", "aleatoric", "Mean aleatoric unc. (nats, test)"),
    ("test", "epistemic", "Mean epistemic unc. (nats, test)"),
)
SHEET_MELS = 64  # more bands than FFT bins at low frequencies would leave empty rows (n_fft 400)
UNITS_NOTE = "uncertainties in nats; acc (variant labels) = after label switching, acc (original labels) = true classes"


@contextmanager
def style() -> Iterator[None]:
    """The one style of every report figure."""
    with mpl.rc_context(STYLE):
        yield


def slug(variant: str) -> str:
    """A file-name form of a variant name (names are letters, digits, `_`, `-` and a level's `.`)."""
    return "".join(ch if ch.isalnum() or ch in "_-." else "-" for ch in variant)


@dataclass(frozen=True)
class Palette:
    """One colour and marker per method, the same in every figure."""

    methods: tuple[str, ...]

    def color(self, method: str) -> tuple[float, ...]:
        cmap = mpl.colormaps["tab10"] if len(self.methods) <= 10 else mpl.colormaps["tab20"]
        return tuple(cmap(self.methods.index(method) % cmap.N))

    def marker(self, method: str) -> str:
        return MARKERS[self.methods.index(method) % len(MARKERS)]


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def panel_grid(
    n: int, panel: tuple[float, float], title: Sequence[str], margins: tuple[float, float, float, float] = PANEL_MARGINS
) -> tuple[Figure, np.ndarray]:
    """A figure of `n` equal panels, three a row, under the suptitle `title` (parts joined as by
    `suptitle`), laid out with fixed margins: `panel` is the (width, height) in inches each grid cell
    takes, `margins` (left, bottom, horizontal gap, vertical gap) in inches leave room for tick
    labels, axis labels and panel titles, and the top leaves room for the wrapped title.

    The per-variant grids have a fixed structure, so their layout needs no solver: constrained
    layout measured every label of every panel on each save, a third of the time of these figures.
    """
    rows, cols = _grid(n)
    width, height = panel[0] * cols, panel[1] * rows
    left, bottom, wgap, hgap = margins
    text = _title_text(width, *title)
    top = 0.5 + 0.16 * len(text.splitlines())
    fig = new_figure(width, height, layout=None)
    fig.suptitle(text, fontsize=9, y=1 - 0.1 / height, va="top")  # 0.1 inch below the top edge
    axes = fig.subplots(
        rows,
        cols,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": 1 - 0.25 / width,
            "bottom": bottom / height,
            "top": 1 - top / height,
            "wspace": wgap / ((width - left - 0.25 - (cols - 1) * wgap) / cols),
            "hspace": hgap / ((height - bottom - top - (rows - 1) * hgap) / rows),
        },
    )
    return fig, axes.ravel()


def save(fig: Figure, path: Path, dpi: int) -> Path:
    """PNG without metadata that changes between runs."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    write_bytes(path, buf.getvalue())
    return path


def suptitle(fig: Figure, *parts: str) -> None:
    """A figure title from `parts` joined by "; ", wrapped to the figure's width so nothing is cut off."""
    fig.suptitle(_title_text(fig.get_figwidth(), *parts), fontsize=9)


def _title_text(fig_width: float, *parts: str) -> str:
    return textwrap.fill("; ".join(parts), int(fig_width * 13))  # 9 pt: about 14.5 average characters an inch


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols


# ---------------------------------------------------------------- sweeps and families
def _yerr(stats: Sequence[Stat]) -> np.ndarray | None:
    """± sd error bars; None when no point has an sd (one seed), so nothing pretends to a spread."""
    sd = np.array([s.sd for s in stats], dtype=np.float64)
    return np.nan_to_num(sd, nan=0.0) if np.isfinite(sd).any() else None


def _stat(cells: dict[tuple[str, str], Cell], variant: str, method: str, section: str, metric: str) -> Stat:
    cell = cells.get((variant, method))
    return cell.stat(section, metric) if cell else EMPTY


def _lines(
    ax: Axes,
    axis: SweepAxis,
    cells: dict[tuple[str, str], Cell],
    palette: Palette,
    section: str,
    metric: str,
) -> None:
    """One line per method over the axis's levels, mean over seeds with ± sd error bars."""
    xs = np.array(axis.levels, dtype=np.float64)
    for method in palette.methods:
        stats = [_stat(cells, v.name, method, section, metric) for v in axis.variants]
        if all(s.empty for s in stats):
            continue
        ys = np.array([s.mean for s in stats], dtype=np.float64)
        ax.errorbar(
            xs,
            ys,
            yerr=_yerr(stats),
            color=palette.color(method),
            marker=palette.marker(method),
            capsize=3,
            label=method,
        )
    ticks = [lv for lv, v in axis.points]
    labels = ["0\n(clean)" if axis.with_clean and i == 0 else level_label(v) for i, (_, v) in enumerate(axis.points)]
    ax.set_xticks(ticks, labels)
    ax.set_xlabel(axis.title)
    if axis.lower_is_noisier and not ax.xaxis_inverted():  # SNR: noise grows to the right, as elsewhere
        ax.invert_xaxis()


def sweep_figure(axis: SweepAxis, results: list[RunResult], palette: Palette) -> Figure:
    """Both accuracies and the mean uncertainties against the sweep level, mean ± sd over seeds:
    lines with error bars, or bars with error bars when the axis has a single point."""
    fig = new_figure(14, 3.4)
    axes = fig.subplots(1, len(QUANTITIES), squeeze=False)[0]
    by_cell = cell_map(results)
    for ax, (section, metric, ylabel) in zip(axes, QUANTITIES, strict=True):
        if len(axis.points) == 1:
            info = axis.variants[0]
            _bars(ax, [info.name], [level_label(info)], by_cell, palette, section, metric)
            ax.set_xlabel(f"{axis.title} (single level)")
        else:
            _lines(ax, axis, by_cell, palette, section, metric)
        ax.set_ylabel(ylabel)
        if metric.startswith("acc"):
            ax.set_ylim(0.0, 1.0)
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    zero = "; level 0 = clean variant" if axis.with_clean else ""
    suptitle(
        fig,
        f"Sweep '{axis.base}' (family {axis.family}): {axis.title}{zero}",
        seeds_note(seeds_of(results), bars=True),
        UNITS_NOTE,
    )
    return fig


def aleatoric_figure(axes_: Sequence[SweepAxis], results: list[RunResult], palette: Palette) -> Figure:
    """Mean test aleatoric uncertainty (nats) against each sweep's noise level, one line per method,
    mean ± sd over seeds; the measured counterpart of the injected noise (LUMA-SPEC sec. 9)."""
    fig = new_figure(max(5.0, 4.6 * len(axes_) + 1.4), 3.8)
    panels = fig.subplots(1, len(axes_), squeeze=False)[0]
    by_cell = cell_map(results)
    for ax, axis in zip(panels, axes_, strict=True):
        _lines(ax, axis, by_cell, palette, "test", "aleatoric")
        ax.set_ylabel("Mean aleatoric uncertainty (nats, test)")
        ax.set_title(f"{axis.title} ({axis.base})")
    panels[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    suptitle(
        fig,
        "Mean test aleatoric uncertainty (nats) against injected noise, one line per method",
        seeds_note(seeds_of(results), bars=True),
    )
    return fig


def _bars(
    ax: Axes,
    variants: list[str],
    ticklabels: list[str],
    cells: dict[tuple[str, str], Cell],
    palette: Palette,
    section: str,
    metric: str,
) -> None:
    """Grouped bars, mean over seeds with ± sd error bars; a method without the metric draws no bar."""
    n = len(palette.methods)
    width = 0.8 / n
    x = np.arange(len(variants), dtype=np.float64)
    for i, method in enumerate(palette.methods):
        stats = [_stat(cells, v, method, section, metric) for v in variants]
        if all(s.empty for s in stats):
            continue
        ys = [s.mean for s in stats]
        ax.bar(
            x + (i - (n - 1) / 2) * width,
            ys,
            width,
            yerr=_yerr(stats),
            capsize=2,
            color=palette.color(method),
            label=method,
        )
    ax.set_xticks(x, ticklabels, rotation=20 if len(variants) > 4 else 0)


def families_figure(variants: list[VariantInfo], results: list[RunResult], palette: Palette) -> Figure:
    """Bars per (variant, method) for the variants that have one setting only (not sweeps)."""
    fig = new_figure(max(8.0, 1.2 * len(variants) + 3), 11.0)
    axes = fig.subplots(len(QUANTITIES), 1, squeeze=False)[:, 0]
    names = [v.name for v in variants]
    ticks = [f"{v.name}\n({v.family})" if v.family != v.name else v.name for v in variants]
    by_cell = cell_map(results)
    for ax, (section, metric, ylabel) in zip(axes, QUANTITIES, strict=True):
        _bars(ax, names, ticks, by_cell, palette, section, metric)
        ax.set_ylabel(ylabel)
        if metric.startswith("acc"):
            ax.set_ylim(0.0, 1.0)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    suptitle(fig, "Variant families at their single setting", seeds_note(seeds_of(results), bars=True), UNITS_NOTE)
    return fig


# ---------------------------------------------------------------- per-variant prediction figures
def _pm(s: Stat) -> str:
    if s.empty:
        return "n/a"
    return f"{s.mean:.3f}" if math.isnan(s.sd) else f"{s.mean:.3f} ± {s.sd:.3f}"


def roc_figure(variant: str, rocs: dict[str, list[Roc]], aurocs: dict[str, Stat], palette: Palette) -> Figure:
    """One curve per method: the exact ROC for one seed, the vertical average ± sd band over several.

    The AUROC in the legend is the metrics files' value (mean ± sd over seeds), not recomputed here.
    """
    fig = new_figure(5.2, 4.6)
    ax = fig.subplots()
    for method, curves in rocs.items():
        label = f"{method} (AUROC {_pm(aurocs.get(method, EMPTY))})"
        if len(curves) == 1:
            ax.plot(curves[0].fpr, curves[0].tpr, color=palette.color(method), label=label)
            continue
        mean, sd = averaged_roc(curves)
        ax.plot(ROC_GRID, mean, color=palette.color(method), label=label, drawstyle="steps-post")
        ax.fill_between(
            ROC_GRID,
            np.clip(mean - sd, 0, 1),
            np.clip(mean + sd, 0, 1),
            color=palette.color(method),
            alpha=0.15,
            step="post",
        )
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1.0, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("False positive rate (test flagged as OOD)")
    ax.set_ylabel("True positive rate (OOD detected)")
    n = max((len(c) for c in rocs.values()), default=0)
    ax.set_title(f"OOD detection by epistemic uncertainty: {variant} (n = {n} seeds)")
    ax.legend(loc="lower right")
    return fig


def reliability_figure(
    variant: str, rels: dict[str, Reliability], eces: dict[str, Stat], palette: Palette, n_seeds: int
) -> Figure:
    """Bars: accuracy per confidence bin of the pooled test predictions of every seed (the metrics'
    15 right-closed bins); title: the metrics files' ECE, mean ± sd over seeds."""
    n_bins = len(next(iter(rels.values())).count) if rels else 0
    title = (
        f"Reliability, test split: {variant}",
        f"{n_bins} equal-width bins, predictions of n = {n_seeds} seeds pooled; ECE from the metrics files",
    )
    fig, axes = panel_grid(len(rels), (3.3, 3.0), title)
    for ax, (method, rel) in zip(axes, rels.items(), strict=False):
        centers = (rel.edges[:-1] + rel.edges[1:]) / 2
        width = rel.edges[1] - rel.edges[0]
        acc = np.nan_to_num(rel.accuracy)
        ax.bar(centers, acc, width * 0.95, color=palette.color(method), alpha=0.85, label="accuracy")
        gap = np.where(rel.count > 0, centers - acc, 0.0)
        ax.bar(centers, gap, width * 0.95, bottom=acc, color="none", edgecolor="tab:red", hatch="//", label="gap")
        ax.plot([0, 1], [0, 1], color="0.3", linestyle=":", linewidth=1.0)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{method}  ECE {_pm(eces.get(method, EMPTY))}")
        ax.set_xlabel("Confidence (max probability)")
        ax.set_ylabel("Accuracy (fraction)")
    for ax in axes[len(rels) :]:
        ax.set_visible(False)
    axes[0].legend(loc="upper left")
    return fig


def histogram_figure(variant: str, preds: dict[str, pd.DataFrame], palette: Palette, n_seeds: int) -> Figure:
    """Epistemic uncertainty of test vs OOD samples (densities on shared bins per method), every
    seed's predictions pooled."""
    title = (f"Epistemic uncertainty (nats), in-distribution test vs OOD: {variant}", f"n = {n_seeds} seeds pooled")
    fig, axes = panel_grid(len(preds), (3.3, 2.8), title)
    for ax, (method, df) in zip(axes, preds.items(), strict=False):
        values = df["epistemic"].to_numpy()
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 31)
        for split, color, name in (("test", palette.color(method), "test (ID)"), ("ood", "0.35", "OOD")):
            part = df.loc[df["split"] == split, "epistemic"].to_numpy()
            part = part[np.isfinite(part)]
            if part.size:
                ax.hist(part, bins=bins, density=True, histtype="stepfilled", alpha=0.45, color=color, label=name)
                ax.hist(part, bins=bins, density=True, histtype="step", color=color)
        ax.set_title(method)
        ax.set_xlabel("Epistemic uncertainty (nats)")
        ax.set_ylabel("Density")
        ax.legend(loc="upper right")
    for ax in axes[len(preds) :]:
        ax.set_visible(False)
    return fig


# ---------------------------------------------------------------- sample sheet
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale, mel = 2595 log10(1 + f / 700)
    (O'Shaughnessy 1987), shape [n_mels, n_fft // 2 + 1]."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_max = 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0)
    hz = 700.0 * (10 ** (np.linspace(0.0, mel_max, n_mels + 2) / 2595.0) - 1.0)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (freqs[None, :] - lower) / np.maximum(center - lower, 1e-9)
    falling = (upper - freqs[None, :]) / np.maximum(upper - center, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def log_mel(wave: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """Log-mel power spectrogram in dB (Hann window), [n_mels, frames]."""
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    if wave.size < n_fft:
        wave = np.pad(wave, (0, n_fft - wave.size))
    frames = 1 + (wave.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(wave[idx] * np.hanning(n_fft)[None, :], axis=1)) ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels) @ spec.T
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def _present(value: object) -> bool:
    """False for None, NaN and pandas' NA (how Parquet nulls arrive in a DataFrame)."""
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _noise_note(row: dict[str, object]) -> str:
    """The injected uncertainty of one sample, in words, from its provenance columns."""
    parts = []
    switched = row.get("switched_modalities")
    if switched is not None and not isinstance(switched, float) and len(switched):  # type: ignore[arg-type]
        was = [f"{m} was {row.get(f'{m}_label_original')}" for m in switched]  # type: ignore[union-attr]
        parts.append("label switched (" + ", ".join(was) + ")")
    elif _present(row.get("label_original")) and row["label_original"] != row.get("label"):
        parts.append(f"label switched from {row['label_original']}")
    if _present(row.get("image_noise")):
        sev = row.get("image_severity")
        parts.append(f"image: {row['image_noise']}" + (f" (severity {int(sev)})" if _present(sev) else ""))  # type: ignore[call-overload]
    if _present(row.get("audio_noise")):
        snr = row.get("audio_snr_db")
        name = Path(str(row["audio_noise"])).name
        parts.append(f"audio: {name}" + (f" at {float(snr):.1f} dB SNR" if _present(snr) else ""))  # type: ignore[arg-type]
    if _present(row.get("text_noise")):
        parts.append(f"text: {row['text_noise']}")
    if _present(row.get("conflict_modality")):
        parts.append(f"conflict: {row['conflict_modality']} taken from the next class")
    missing = row.get("missing_modalities")
    if missing is not None and not isinstance(missing, float) and len(missing):  # type: ignore[arg-type]
        parts.append("missing: " + ", ".join(missing))  # type: ignore[arg-type]
    return "; ".join(parts) if parts else "no injected noise"


def is_noisy(df: pd.DataFrame) -> np.ndarray:
    """Rows with any injected uncertainty recorded in their provenance columns."""
    noisy = np.zeros(len(df), dtype=bool)
    for col in ("image_noise", "audio_noise", "text_noise", "conflict_modality"):
        if col in df:
            noisy |= df[col].notna().to_numpy()
    if "label_switched" in df:
        noisy |= df["label_switched"].fillna(False).to_numpy(dtype=bool)
    if "label_original" in df:
        noisy |= (df["label_original"].notna() & (df["label_original"] != df["label"])).to_numpy()
    if "missing_modalities" in df:
        noisy |= df["missing_modalities"].map(lambda m: _present(m) and len(m) > 0).to_numpy(dtype=bool)
    return noisy


def pick_samples(df: pd.DataFrame, n: int, gen: np.random.Generator) -> pd.DataFrame:
    """Up to n rows, at least half with injected noise where the variant has some, in file order."""
    noisy = np.flatnonzero(is_noisy(df))
    clean = np.flatnonzero(~is_noisy(df))
    n_noisy = min(len(noisy), max(n - len(clean), (n + 1) // 2))
    chosen = np.r_[
        gen.choice(noisy, size=n_noisy, replace=False) if n_noisy else np.array([], dtype=np.int64),
        gen.choice(clean, size=min(len(clean), n - n_noisy), replace=False) if len(clean) else [],
    ].astype(np.int64)
    return df.iloc[np.sort(chosen)]


def sample_sheet_figure(variant: str, rows: pd.DataFrame, n_fft: int, hop: int, n_mels: int) -> Figure:
    """Image, log-mel spectrogram and text snippet per sample, captioned with the injected noise."""
    import soundfile
    from PIL import Image

    n = len(rows)
    fig = new_figure(11.0, 1.55 * n + 0.6)
    axes = fig.subplots(n, 3, squeeze=False, gridspec_kw={"width_ratios": [1.0, 1.8, 4.2]})
    for i, row in enumerate(rows.to_dict("records")):
        ax_img, ax_spec, ax_txt = axes[i]
        if _present(row.get("image")):
            pixels = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))
            ax_img.imshow(pixels, interpolation="nearest")
        else:
            ax_img.text(0.5, 0.5, "image\nmissing", ha="center", va="center", color="0.4")
        if _present(row.get("audio")):
            wave, sr = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
            spec = log_mel(wave, sr, n_fft, hop, n_mels)
            ax_spec.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=spec.max() - 80, vmax=spec.max())
            ax_spec.set_xlabel(f"{len(wave) / sr:.2f} s, {n_mels} mel bands", fontsize=7)
        else:
            ax_spec.text(0.5, 0.5, "audio missing", ha="center", va="center", color="0.4")
        snippet = row.get("text")
        body = textwrap.fill(" ".join(str(snippet).split())[:260], 95) if _present(snippet) else "text missing"
        head = f"{row['sample_id']}  label: {row['label']}\n{_noise_note(row)}"
        ax_txt.text(0.0, 1.0, head, ha="left", va="top", fontsize=8, fontweight="bold", wrap=True)
        ax_txt.text(0.0, 0.62, body, ha="left", va="top", fontsize=7.5, family="DejaVu Sans Mono")
        for ax in (ax_img, ax_spec, ax_txt):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        ax_txt.axis("off")
    axes[0][0].set_title("Image")
    axes[0][1].set_title("Log-mel spectrogram")
    axes[0][2].set_title("Text and injected noise")
    fig.suptitle(f"Samples of variant {variant} (test split)")
    return fig
