"""DVC for real on a copy of the project: `dvc repro` builds a variant, trains a model and writes the
report; the pipeline is then clean, a second repro runs nothing, an experiment re-runs exactly the
stages its parameter reaches, `dvc metrics/plots show` give the report's numbers and a plot page,
and Snakemake builds byte-identical variant and metrics files from the same inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lumabench.dvcplots import render
from lumabench.params import load_params
from workflow_project import BIN, SEED, SYNTHETIC_STAGES, VARIANT, git_init, make_project, run, snapshot

pytestmark = pytest.mark.slow
DVC = str(BIN / "dvc")
TARGET = "report"
OUTPUTS = (f"data/mini/variants/{VARIANT}", f"results/mini/metrics/{VARIANT}")


def _after(project: Path, *stages: str) -> set[str]:
    """`stages` and the stages after them: the modality study (when dvc.yaml has it) trains and then
    feeds the report, so it follows the variant and the training settings too."""
    declared = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    return {*stages, "report"} | ({"robustness"} & set(declared))


def _ran(log: str) -> set[str]:
    """The stages a DVC run ran, by base name (a matrix stage `train@clean` counts as `train`)."""
    return {s.split("@")[0] for s in re.findall(r"Running stage '([^']+)'", log)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dvc")
    make_project(root)
    # the plots follow this copy's grid, as `make dvc-plots` makes them follow the project's
    dvc_yaml = root / "dvc.yaml"
    dvc_yaml.write_text(render(dvc_yaml.read_text("utf-8"), load_params(root / "params.yaml")), "utf-8")
    git_init(root)
    # the synthetic files stand in for the corpus stages' outputs: record them as those stages'
    run(root, DVC, "commit", "-f", *SYNTHETIC_STAGES, "features")
    return root


@pytest.fixture(scope="module")
def first_repro(project: Path) -> tuple[str, dict[str, bytes]]:
    """The first `dvc repro` log and the variant and metrics files it wrote (before any experiment)."""
    log = run(project, DVC, "repro", TARGET, timeout=900)
    return log, snapshot(project, *OUTPUTS)


def test_repro_runs_the_stages_after_the_inputs_then_is_clean(project: Path, first_repro) -> None:
    log, _ = first_repro
    assert _ran(log) == _after(project, "variants", "train"), log
    assert "up to date" in run(project, DVC, "status", TARGET)
    again = run(project, DVC, "repro", TARGET)
    assert _ran(again) == set() and "didn't change, skipping" in again
    summary = json.loads((project / "results/mini/metrics.json").read_text())
    assert summary, "the report wrote no metrics"


def test_an_experiment_reruns_exactly_the_stages_its_parameter_reaches(project: Path, first_repro) -> None:
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "first repro")
    variant = snapshot(project, OUTPUTS[0])
    # a training key of the mini overlay: the data stages stay cached (they track only their own sections)
    log = run(project, DVC, "exp", "run", "-S", "profiles.mini.train.max_epochs=1", TARGET, timeout=900)
    assert _ran(log) == _after(project, "train"), log
    assert snapshot(project, OUTPUTS[0]) == variant
    status = run(project, DVC, "status", TARGET)
    assert "up to date" in status, status
    # a variants key the overlay lacks (`+`: DVC adds it): the variant and everything after it, nothing before
    log = run(project, DVC, "exp", "run", "-S", "+profiles.mini.variants.test_per_class=3", TARGET, timeout=900)
    assert _ran(log) == _after(project, "variants", "train"), log
    assert all(f"'{s}' didn't change" in log for s in ("features", *SYNTHETIC_STAGES)), log


def test_metrics_and_plots_show_the_report(project: Path, first_repro) -> None:
    out = run(project, DVC, "metrics", "show", "--json")
    shown = json.loads(out[out.index("{") :])
    data = next(iter(shown.values()))["data"]["results/mini/metrics.json"]["data"]
    assert data == json.loads((project / "results/mini/metrics.json").read_text())
    rendered = run(project, DVC, "plots", "show", "--json")
    rendered = json.loads(rendered[rendered.index("{") :])
    assert not rendered.get("errors"), rendered.get("errors")
    assert any(f"roc_{VARIANT}" in name for name in rendered["data"])
    out = run(project, DVC, "plots", "show", "-o", "plots-page")
    page = (project / "plots-page/index.html").read_text()
    assert "vega" in page.lower() and f"roc_{VARIANT}" in page, out


def test_snakemake_builds_the_same_bytes(first_repro, tmp_path: Path) -> None:
    """The other front-end, from the same inputs: the same variant and metrics files, byte for byte."""
    other = tmp_path / "smk"
    other.mkdir()
    make_project(other)
    metrics = f"results/mini/metrics/{VARIANT}"
    # the targets before --allowed-rules, which takes every word after it; the synthetic inputs stay as they are
    run(other, str(BIN / "snakemake"), "--cores", "2", f"data/mini/variants/{VARIANT}", metrics,
        "--allowed-rules", "variants", "train", timeout=900)  # fmt: skip
    _, dvc_side = first_repro
    smk_side = snapshot(other, *OUTPUTS)
    assert set(dvc_side) == set(smk_side) and f"{metrics}/mcd_image/seed-{SEED}.json" in smk_side
    assert {k for k, v in dvc_side.items() if smk_side[k] != v} == set()
