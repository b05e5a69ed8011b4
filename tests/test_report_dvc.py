"""The report's metrics and curve files work with `dvc metrics show/diff` and `dvc plots show`, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lumabench.params import Params
from lumabench.report.plotdata import dvc_plot_definitions
from test_report_fixture import make_results, params_dict, run_report

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
pytestmark = pytest.mark.slow


def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    out = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"{args}: {out.stderr}"
    return out.stdout


def test_dvc_metrics_and_plots_offline(tmp_path: Path) -> None:
    raw = params_dict()
    params = Params.model_validate(raw)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    plots = ["results/mini/figures", *dvc_plot_definitions(params, "results/mini/tables")]
    dvc_yaml = {"metrics": ["results/mini/metrics.json"], "plots": plots}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    _run(tmp_path, "git", "init", "-q")
    _run(tmp_path, DVC, "init", "-q")
    shutil.copy(ROOT / ".dvc/config", tmp_path / ".dvc/config")  # analytics and update checks off
    run_report(make_results(tmp_path, params))

    shown = json.loads(_run(tmp_path, DVC, "metrics", "show", "--json"))
    data = next(iter(shown.values()))["data"]["results/mini/metrics.json"]["data"]
    summary = json.loads((tmp_path / "results/mini/metrics.json").read_text())
    assert data == summary and "clean/mcd_image" in data and "test_acc" in data["clean/mcd_image"]

    _run(tmp_path, "git", "add", "-A")
    _run(tmp_path, "git", "commit", "-qm", "report")
    summary["clean/mcd_image"]["test_acc"] = 0.123
    (tmp_path / "results/mini/metrics.json").write_text(json.dumps(summary))
    diff = json.loads(_run(tmp_path, DVC, "metrics", "diff", "--json"))
    change = diff["results/mini/metrics.json"]["clean/mcd_image.test_acc"]
    assert change["new"] == 0.123 and change["old"] != 0.123

    rendered = json.loads(_run(tmp_path, DVC, "plots", "show", "--json"))
    assert not rendered.get("errors"), rendered.get("errors")
    names = set(rendered["data"])
    assert any("roc_clean" in n for n in names) and any("sweep_severity" in n for n in names)
    assert any(n.endswith(".png") for n in names)
