"""The report's robustness pieces on hand-made metrics JSON: noise sweeps (accuracy and per-modality
σ²), modality laziness, missing modalities and the ablation; skipped pieces leave a note, a method
without a value leaves an empty cell and no line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lumabench.io import write_json
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.report import figures as figs
from lumabench.report import robust, tables
from lumabench.report.aggregate import sweep_axes
from lumabench.report.collect import collect

SEEDS = [1, 2]
FUSED3 = ["image", "audio", "text"]
METHODS = {
    "mcd_image": {"kind": "mc_dropout", "modalities": ["image"]},
    "mcd_audio": {"kind": "mc_dropout", "modalities": ["audio"]},
    "mcd_fused": {"kind": "mc_dropout", "modalities": FUSED3},
    "eau_fused": {"kind": "eau", "modalities": FUSED3},
    "eau_ia": {"kind": "eau", "modalities": ["image", "audio"]},
    "mla_fused": {"kind": "mla", "modalities": FUSED3},
    "mla_nohgm": {"kind": "mla", "modalities": FUSED3, "mla": {"hgm": False}},
}
# test accuracy per (variant, method), one value per seed (1, 2)
ACC = {
    "clean": {"mcd_image": (0.65, 0.69), "mcd_audio": (0.50, 0.52), "mcd_fused": (0.80, 0.84),
              "eau_fused": (0.78, 0.80), "eau_ia": (0.70, 0.72), "mla_fused": (0.82, 0.86), "mla_nohgm": (0.79, 0.81)},
    "image_gauss-1": {"mcd_fused": (0.70, 0.74), "eau_fused": (0.75, 0.77), "mla_fused": (0.72, 0.70)},
    "image_gauss-5": {"mcd_fused": (0.40, 0.50), "eau_fused": (0.60, 0.64), "mla_fused": (0.45, 0.47)},
    "audio_snr-10": {"mcd_fused": (0.78, 0.80), "eau_fused": (0.77, 0.79)},
    "audio_snr-0": {"mcd_fused": (0.60, 0.64), "eau_fused": (0.70, 0.72)},
    "missing_rate-0.1": {"mcd_fused": (0.75, 0.77), "mla_fused": (0.80, 0.82), "mla_nohgm": (0.74, 0.78)},
    "missing_rate-0.5": {"mcd_fused": (0.50, 0.58), "mla_fused": (0.66, 0.70), "mla_nohgm": (0.55, 0.61)},
}  # fmt: skip
DEFAULT_ACC = (0.3, 0.32)
# per-modality σ² of the EAU models: the noised modality's rises with the level
SIGMA2 = {
    "clean": {"image": (1.00, 1.02), "audio": (0.90, 0.92), "text": (0.80, 0.84)},
    "image_gauss-1": {"image": (1.05, 1.09), "audio": (0.90, 0.92), "text": (0.80, 0.84)},
    "image_gauss-5": {"image": (1.20, 1.30), "audio": (0.91, 0.91), "text": (0.81, 0.83)},
    "audio_snr-10": {"image": (1.00, 1.02), "audio": (0.95, 0.97), "text": (0.80, 0.84)},
    "audio_snr-0": {"image": (1.00, 1.02), "audio": (1.10, 1.20), "text": (0.80, 0.84)},
}
# own head of each modality inside a fused model, on clean (EAU has none)
HEADS = {
    "mcd_fused": {"image": (0.60, 0.62), "audio": (0.40, 0.44), "text": (0.70, 0.70)},
    "mla_fused": {"image": (0.66, 0.70), "audio": (0.49, 0.53), "text": (0.75, 0.77)},
}
RUN_VARIANTS = list(ACC)  # no text_mask level: that sweep is skipped


def params_dict(variants: list[str], methods: list[str], report: dict | None = None) -> dict:
    return {
        "profile": "mini",
        "seed": 42,
        "run": {"variants": variants, "methods": methods, "seeds": SEEDS},
        "variants": {
            "definitions": {
                "clean": {"family": "clean"},
                "image_gauss": {
                    "family": "sample_noise",
                    "sweep": "image.severity",
                    "sweep_label": "image Gaussian-noise severity",
                    "levels": [1, 3, 5],
                    "image": {"train": False, "test": True, "ratio": 1.0, "corruptions": ["gaussian_noise"]},
                    "model_from": "clean",
                },
                "text_mask": {
                    "family": "sample_noise",
                    "sweep": "text.mask_rate",
                    "levels": [0.1, 0.3, 0.5],
                    "text": {"train": False, "test": True, "ratio": 0.5, "perturbations": ["word_mask"]},
                    "model_from": "clean",
                },
                "audio_snr": {
                    "family": "sample_noise",
                    "sweep": ["audio.min_snr_db", "audio.max_snr_db"],
                    "sweep_label": "audio SNR (dB, lower = noisier)",
                    "levels": [10, 5, 0],
                    "audio": {"train": False, "test": True, "ratio": 1.0},
                    "model_from": "clean",
                },
                "missing_rate": {
                    "family": "missing",
                    "sweep": [f"rate.{m}.{s}" for m in FUSED3 for s in ("train", "test")],
                    "sweep_label": "missing rate η (train and test)",
                    "levels": [0.1, 0.3, 0.5],
                },
            }
        },
        "methods": {m: METHODS[m] for m in methods},
        "report": {"dpi": 40, **(report or {})},
    }


def metrics(variant: str, method: str, seed: int) -> dict:
    k = SEEDS.index(seed)
    acc = ACC.get(variant, {}).get(method, DEFAULT_ACC)[k]
    test: dict = {"acc": acc, "acc_original": acc, "aleatoric": 1.0, "epistemic": 0.1, "total": 1.1}
    if method.startswith("eau"):
        for m in METHODS[method]["modalities"]:
            if variant in SIGMA2:
                test[f"sigma2_{m}"] = SIGMA2[variant][m][k]
    per = {}
    if variant == "clean" and method in HEADS:
        per = {m: {"acc": v[k], "n": 84} for m, v in HEADS[method].items()}
    return {"variant": variant, "method": method, "seed": seed, "test": test, "ood": {}, "per_modality": per}


def results_for(root: Path, params: Params) -> list:
    paths = Paths(root, params.profile)
    for v in params.run.variants:
        for m in params.run.methods:
            for s in params.run.seeds:
                write_json(paths.metrics(v, m, s), metrics(v, m, s))
                p = paths.predictions(v, m, s)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b"")  # collect checks it exists; these tests never read predictions
    return collect(params, paths)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Params, list, robust.Robustness]:
    params = Params.model_validate(params_dict(RUN_VARIANTS, list(METHODS)))
    results = results_for(tmp_path_factory.mktemp("robust"), params)
    return params, results, robust.build(params, results)


def _ms(values: tuple[float, ...]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1))


def _table(built: robust.Robustness, name: str) -> tables.Table:
    return next(t for t in built.tables if t.name == name)


def _csv(table: tables.Table) -> pd.DataFrame:
    return tables.csv_frame(table)


def test_noise_axes_run_from_clean_to_most_noise(full) -> None:
    _, _, built = full
    axes = {a.base: a for a in built.noise_axes}
    assert list(axes) == ["image_gauss", "audio_snr"]  # image_sp: not defined; text_mask: no level in the run
    gauss = axes["image_gauss"]
    assert [(p.x, p.label, p.variant.name) for p in gauss.points] == [
        (0.0, "0 (clean)", "clean"),
        (1.0, "1", "image_gauss-1"),
        (5.0, "5", "image_gauss-5"),
    ]
    assert gauss.noised == ("image",)
    snr = axes["audio_snr"]  # lower SNR = noisier: clean (+inf dB) first, then 10 dB, then 0 dB
    assert [p.variant.name for p in snr.points] == ["clean", "audio_snr-10", "audio_snr-0"]
    assert [p.x for p in snr.points] == [0.0, 1.0, 2.0] and math.isinf(snr.points[0].level)
    assert snr.noised == ("audio",) and snr.xlabel == "audio SNR (dB, lower = noisier)"
    assert built.missing_axis is not None and built.missing_axis.noised == tuple(FUSED3)
    assert [p.level for p in built.missing_axis.points] == [0.0, 0.1, 0.5]
    notes = " ".join(built.notes)
    assert "image_sp skipped: 'image_sp' is not a sweep" in notes
    assert "text_mask skipped: none of the levels of 'text_mask' (text_mask-0.1, text_mask-0.3" in notes


def test_snr_sweep_never_puts_clean_at_0_db(tmp_path: Path) -> None:
    """The generic sweep axis: clean is level 0 for severities, but 0 dB is loud noise, so an SNR sweep
    without a 0 dB level must not draw clean there."""
    params = Params.model_validate(params_dict(["clean", "audio_snr-10", "audio_snr-5"], ["mcd_fused"]))
    axes = {a.base: a for a in sweep_axes(params, results_for(tmp_path, params))}
    assert not axes["audio_snr"].with_clean and axes["audio_snr"].lower_is_noisier
    assert [v.name for v in axes["audio_snr"].variants] == ["audio_snr-5", "audio_snr-10"]


def test_robustness_table_means_and_sd(full) -> None:
    _, _, built = full
    table = _table(built, "robustness")
    assert list(table.frame.columns[4:]) == ["mcd_fused", "eau_fused", "eau_ia", "mla_fused", "mla_nohgm"]
    csv = _csv(table)
    assert list(csv["variant"]) == ["clean", "image_gauss-1", "image_gauss-5", "clean", "audio_snr-10", "audio_snr-0"]
    assert list(csv["noised"]) == ["image"] * 3 + ["audio"] * 3
    for i, v in enumerate(csv["variant"]):
        for m in ("mcd_fused", "eau_fused", "mla_fused"):
            mean, sd = _ms(ACC.get(v, {}).get(m, DEFAULT_ACC))
            assert csv.loc[i, m] == pytest.approx(mean, abs=1e-12)
            assert csv.loc[i, f"{m}_sd"] == pytest.approx(sd, abs=1e-12)
    assert "mcd_image" not in csv.columns  # unimodal methods are not in the fused comparison
    # best mean per row in bold: eau_fused at image_gauss-5 (0.62)
    assert (2, "eau_fused") in table.emphasis and "sweep perturbs" in table.caption
    md = tables.to_markdown(table)
    assert "| image_gauss | image | 5 | image_gauss-5 | 0.450 ± 0.071 | **0.620 ± 0.028** |" in md
    missing = _csv(_table(built, "missing_modalities"))
    assert list(missing["level"]) == ["0 (clean)", "0.1", "0.5"]
    assert missing.loc[2, "mla_fused"] == pytest.approx(0.68) and missing.loc[2, "mla_fused_sd"] == pytest.approx(
        _ms((0.66, 0.70))[1]
    )


def test_sigma2_table_and_empty_cells(full) -> None:
    _, _, built = full
    assert built.sigma2_methods == ["eau_fused", "eau_ia"]  # only methods that report σ²
    table = _table(built, "sigma2_noise")
    csv = _csv(table)
    assert set(csv["method"]) == {"eau_fused", "eau_ia"}
    row = csv[(csv.variant == "image_gauss-5") & (csv.method == "eau_fused")].iloc[0]
    assert row["sigma2_image"] == pytest.approx(1.25) and row["sigma2_image_sd"] == pytest.approx(_ms((1.2, 1.3))[1])
    assert row["sigma2_audio"] == pytest.approx(0.91) and row["sigma2_audio_sd"] == pytest.approx(0.0)
    snr = csv[(csv.variant == "audio_snr-0") & (csv.method == "eau_fused")].iloc[0]
    assert snr["sigma2_audio"] == pytest.approx(1.15) and snr["sigma2_image"] == pytest.approx(1.01)
    two = csv[csv.method == "eau_ia"]
    assert two["sigma2_text"].isna().all() and two["sigma2_image"].notna().all()  # no text: empty, never 0
    md = tables.to_markdown(table)
    line = next(x for x in md.splitlines() if "| image_gauss-5 | eau_ia |" in x)
    assert line.rstrip().endswith("|  |") and "nan" not in md.lower()
    assert "σ² image" in md and "'noised'" in table.caption
    assert "$\\sigma$$^2$ image" in tables.to_latex(table)


def test_laziness_gaps_per_seed(full) -> None:
    _, _, built = full
    table = _table(built, "laziness")
    csv = _csv(table).set_index(["method", "modality"])
    img = csv.loc[("mcd_fused", "image")]
    assert img["alone"] == "mcd_image"
    assert img["acc_in_fused"] == pytest.approx(0.61) and img["acc_alone"] == pytest.approx(0.67)
    gaps = np.array([0.60 - 0.65, 0.62 - 0.69])  # fused head − alone, seed by seed
    assert img["gap"] == pytest.approx(gaps.mean()) and img["gap_sd"] == pytest.approx(gaps.std(ddof=1))
    aud = csv.loc[("mla_fused", "audio")]
    assert aud["gap"] == pytest.approx(np.mean([0.49 - 0.50, 0.53 - 0.52])) and aud["alone"] == "mcd_audio"
    text = csv.loc[("mcd_fused", "text")]  # no mcd_text in the run: the head alone, empty comparison
    assert text["acc_in_fused"] == pytest.approx(0.70) and math.isnan(text["acc_alone"]) and math.isnan(text["gap"])
    eau = csv.loc[("eau_fused", "image")]  # no per-modality heads: empty, the alone model still shown
    assert math.isnan(eau["acc_in_fused"]) and math.isnan(eau["gap"]) and eau["acc_alone"] == pytest.approx(0.67)
    assert ("eau_ia", "image") not in csv.index  # neither heads nor a laziness pair
    assert "Zhang et al., CVPR 2024" in table.caption and "laziness" in table.caption.lower()
    assert any("mcd_text" in n for n in built.notes)


def test_ablation_table(full) -> None:
    _, _, built = full
    table = _table(built, "ablation")
    csv = _csv(table)
    assert list(csv["method"]) == ["mla_fused", "mla_nohgm"]  # mla_fixed, mla_plain: not in the run
    assert list(csv["setting"]) == ["MLA", "w/o HGM"]
    assert list(csv.columns[2::2]) == ["clean", "missing_rate-0.1", "missing_rate-0.5"]
    for i, m in enumerate(csv["method"]):
        for v in ("clean", "missing_rate-0.1", "missing_rate-0.5"):
            mean, sd = _ms(ACC[v][m])
            assert csv.loc[i, v] == pytest.approx(mean) and csv.loc[i, f"{v}_sd"] == pytest.approx(sd)
    md = tables.to_markdown(table)
    assert "clean (η = 0)" in md and "η = 0.5" in md and "w/o HGM" in md


def test_skipped_pieces_leave_notes_not_errors(tmp_path: Path) -> None:
    params = Params.model_validate(
        params_dict(["clean", "image_gauss-3"], ["mcd_image", "mcd_audio"], {"missing_sweep": None})
    )
    built = robust.build(params, results_for(tmp_path, params))
    assert built.tables == [] and built.fused == []
    text = " ".join(built.notes)
    assert "text_mask skipped" in text and "image_sp skipped" in text and "two modalities" in text
    assert "σ²" in text and "ablation table skipped" in text
    with figs.style():
        assert robust.figures(params, built, [], figs.Palette(("mcd_image", "mcd_audio")), tmp_path) == []


def _series(ax) -> dict:  # type: ignore[no-untyped-def]
    """The data line of each labelled error-bar series of a panel."""
    return {c.get_label(): c.lines[0] for c in ax.containers if not c.get_label().startswith("_")}


def test_figures_draw_means_and_skip_methods_without_values(full, tmp_path: Path) -> None:
    params, results, built = full
    with figs.style():
        fig = robust.sigma2_figure(built.noise_axes, built.sigma2_methods, results)
    panels = fig.axes
    titles = [ax.get_title() for ax in panels]
    assert titles[:2] == ["eau_fused: image_gauss (noises image)", "eau_fused: audio_snr (noises audio)"]
    lines = _series(panels[0])
    assert set(lines) == {"σ² image", "σ² audio", "σ² text"}
    assert lines["σ² image"].get_ydata().tolist() == pytest.approx([1.01, 1.07, 1.25])
    assert lines["σ² image"].get_linestyle() == "-" and lines["σ² audio"].get_linestyle() == "--"
    assert set(_series(panels[2])) == {"σ² image", "σ² audio"}  # eau_ia has no text σ²: no line, not one at 0
    with figs.style():
        acc = robust.accuracy_figure(built.noise_axes, built.fused, results, figs.Palette(tuple(params.run.methods)))
    snr_panel = acc.axes[1]
    drawn = _series(snr_panel)
    assert set(drawn) == {"mcd_fused", "eau_fused", "eau_ia", "mla_fused", "mla_nohgm"}
    assert drawn["eau_fused"].get_ydata().tolist() == pytest.approx([0.79, 0.78, 0.71])
    assert [t.get_text() for t in snr_panel.get_xticklabels()] == ["clean\n(no noise)", "10", "0"]
    with figs.style():
        entries = robust.figures(params, built, results, figs.Palette(tuple(params.run.methods)), tmp_path)
    names = [e.path.name for e in entries]
    assert names == ["sigma2_vs_noise.png", "robustness.png", "missing_modalities.png"]
    sigma_caption = entries[0].caption
    assert "image_gauss noises image" in sigma_caption and "audio_snr noises audio" in sigma_caption
    assert "η = 0 is the clean variant" in entries[2].caption


def test_report_stage_writes_the_robustness_outputs(tmp_path: Path) -> None:
    """Through `lumabench report`: the tables land as CSV/Markdown, the figures and notes in the HTML."""
    from test_report_fixture import make_results, run_report

    raw = params_dict(["clean", "image_gauss-1", "image_gauss-5"], ["mcd_image", "mcd_fused", "eau_fused"])
    raw["report"]["sample_sheet_rows"] = 2
    params = Params.model_validate(raw)
    fx = make_results(tmp_path, params, sheet=False)
    for v in params.run.variants:
        for s in SEEDS:
            path = fx.paths.metrics(v, "eau_fused", s)
            data = json.loads(path.read_text())
            data["test"] |= {f"sigma2_{m}": SIGMA2[v][m][SEEDS.index(s)] for m in FUSED3}
            data["per_modality"] = {}
            write_json(path, data)
    run_report(fx, f"sqlite:///{tmp_path / 'mlflow.db'}")
    sig = pd.read_csv(fx.paths.tables / "sigma2_noise.csv")
    assert sig.loc[sig.variant == "image_gauss-5", "sigma2_image"].iloc[0] == pytest.approx(1.25)
    rob = pd.read_csv(fx.paths.tables / "robustness.csv")
    want = [json.loads(fx.paths.metrics("image_gauss-5", "mcd_fused", s).read_text())["test"]["acc"] for s in SEEDS]
    assert rob.loc[rob.variant == "image_gauss-5", "mcd_fused"].iloc[0] == pytest.approx(np.mean(want))
    assert (fx.paths.tables / "laziness.md").is_file() and not (fx.paths.tables / "ablation.csv").exists()
    html = fx.paths.report_html.read_text()
    assert 'id="fig-sigma2_vs_noise"' in html and 'id="fig-robustness"' in html
    assert 'id="table-laziness"' in html and "ablation table skipped" in html
