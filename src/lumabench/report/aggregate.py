"""Mean ± sd over training seeds: the one place the report combines the runs of a grid cell.

Every table and figure shows a (variant, method) cell as the mean over its training seeds with the
sample standard deviation (ddof = 1, Bessel's correction), so a reader sees how much of a
difference between cells is training noise. With one seed there is no spread to estimate: the sd
is NaN and the renderings show the mean alone, with n = 1 stated. A metric a run does not have
(vacuity of a sampling method, an AUROC without OOD rows) is left out of its cell's mean; a cell no
seed has a value for is empty, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lumabench.params import Params
from lumabench.report.collect import RunResult, VariantInfo, flat_metrics


@dataclass(frozen=True)
class Stat:
    """Mean and sample sd (ddof = 1) of one metric over the seeds that have it; n = how many."""

    mean: float
    sd: float
    n: int

    @property
    def empty(self) -> bool:
        return self.n == 0


EMPTY = Stat(math.nan, math.nan, 0)


def stat(values: Iterable[float]) -> Stat:
    """Mean ± sd of the finite values; sd is NaN below two values (no spread can be estimated)."""
    finite = np.array([v for v in values if isinstance(v, int | float) and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return EMPTY
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else math.nan
    return Stat(float(np.mean(finite)), sd, int(finite.size))


def seed_of(result: RunResult) -> int:
    """The training seed of a run."""
    return int(result.seed)


@dataclass(frozen=True)
class Cell:
    """The runs of one (variant, method) cell, one per training seed, in seed order."""

    variant: VariantInfo
    method: str
    runs: tuple[RunResult, ...]

    @property
    def key(self) -> str:
        return f"{self.variant.name}/{self.method}"

    @property
    def seeds(self) -> list[int]:
        return [seed_of(r) for r in self.runs]

    def stat(self, section: str, name: str) -> Stat:
        return stat(r.value(section, name) for r in self.runs)

    def flat(self) -> dict[str, Stat]:
        """Every numeric metric any seed has (`section/name`, per-modality too), aggregated."""
        per_run = [flat_metrics(r) for r in self.runs]
        keys = sorted({k for f in per_run for k in f})
        return {k: stat(f.get(k, math.nan) for f in per_run) for k in keys}


def cells(results: Sequence[RunResult]) -> list[Cell]:
    """Group the runs by (variant, method), keeping the order in which the cells first appear."""
    grouped: dict[tuple[str, str], list[RunResult]] = {}
    infos: dict[tuple[str, str], VariantInfo] = {}
    for r in results:
        key = (r.variant.name, r.method)
        grouped.setdefault(key, []).append(r)
        infos[key] = r.variant
    return [Cell(infos[k], k[1], tuple(sorted(runs, key=seed_of))) for k, runs in grouped.items()]


def cell_map(results: Sequence[RunResult]) -> dict[tuple[str, str], Cell]:
    """(variant name, method) -> its cell."""
    return {(c.variant.name, c.method): c for c in cells(results)}


def seeds_of(results: Sequence[RunResult]) -> list[int]:
    """The distinct training seeds of the runs, sorted."""
    return sorted({seed_of(r) for r in results})


def seeds_note(seeds: Sequence[int], bars: bool = False) -> str:
    """What a value in a table or figure is, for its caption (`bars`: the figure draws ± 1 sd)."""
    listed = ", ".join(str(s) for s in seeds)
    if len(seeds) == 1:
        return f"n = 1 training seed ({listed}): single runs, no sd"
    spread = ", error bars ± 1 sd" if bars else ""
    return f"mean ± sd (ddof = 1) over n = {len(seeds)} training seeds ({listed}){spread}"


def lower_is_noisier(definition: Any) -> bool:
    """True for a sweep whose every key is a signal-to-noise ratio (`*snr_db`): there a lower level
    is more noise and the clean variant is the +∞ dB end, never level 0 (0 dB is loud noise)."""
    keys = definition.sweep_keys()
    return bool(keys) and all(k.rsplit(".", 1)[-1].endswith("snr_db") for k in keys)


@dataclass(frozen=True)
class SweepAxis:
    """One sweep of the run as an x axis: (level, variant) points in increasing level.

    Level 0 is the clean variant (nothing injected) when the run has one and the sweep's own levels
    do not include 0, so a curve starts where no noise is. An SNR sweep (`lower_is_noisier`) has no
    such point: its clean end is +∞ dB, so the clean variant is left off its numeric axis (the
    figures draw that axis reversed, noise growing to the right).
    """

    base: str
    title: str
    family: str
    points: tuple[tuple[float, VariantInfo], ...]
    with_clean: bool
    lower_is_noisier: bool = False

    @property
    def levels(self) -> list[float]:
        return [lv for lv, _ in self.points]

    @property
    def variants(self) -> list[VariantInfo]:
        return [v for _, v in self.points]


def sweep_axes(params: Params, results: Sequence[RunResult]) -> list[SweepAxis]:
    """The sweeps of `variants.definitions` (entries with a `sweep`) that have levels in the run."""
    in_run: dict[str, VariantInfo] = {}
    for r in results:
        in_run.setdefault(r.variant.name, r.variant)
    clean = next((v for v in in_run.values() if v.family == "clean" and not v.is_sweep), None)
    out: list[SweepAxis] = []
    for base, definition in params.variants.definitions.items():
        if definition.sweep is None:
            continue
        levels = sorted(
            ((float(v.level), v) for v in in_run.values() if v.base == base and v.level is not None),
            key=lambda p: p[0],
        )
        if not levels:
            continue
        snr = lower_is_noisier(definition)
        with_clean = clean is not None and not snr and all(lv != 0.0 for lv, _ in levels)
        points = ([(0.0, clean)] if with_clean and clean is not None else []) + levels
        title = definition.sweep_title() or "level"
        out.append(SweepAxis(base, title, levels[0][1].family, tuple(points), with_clean, snr))
    return out
