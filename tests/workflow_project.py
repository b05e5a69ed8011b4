"""A throw-away copy of the project's front-ends (Snakefile, workflow/, dvc.yaml, profiles/) over small
synthetic stage-4 data, for the tests that run Snakemake, DVC and SLURM for real.

The corpus stages (corpora, audio, text, annotate) are replaced by `synth_accepted`'s files, so a
test builds only the stages it is about, in seconds: features, a variant, one small model, the report.
The params are the project's own with a one-variant, one-method, one-seed grid and 2 training epochs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from lumabench.io import write_parquet
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED
from synth_accepted import make, write_cheap_features

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FRONT_ENDS = ("Snakefile", "workflow", "profiles", "dvc.yaml", ".dvcignore", ".gitignore", "annotations")
VARIANT, METHOD, SEED = "clean", "mcd_image", 42
#: the synthetic inputs stand in for these stages' outputs
SYNTHETIC_STAGES = ("corpora", "audio", "text", "annotate")


def env() -> dict[str, str]:
    """The environment of a front-end run: this venv first on PATH, offline, quiet, one thread."""
    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "LUMABENCH_PROGRESS": "0",
        "HF_HUB_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }


def run(cwd: Path, *args: str, timeout: float = 600) -> str:
    """Run a command in the project copy; fail with its output's tail if it fails."""
    out = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env(), timeout=timeout)
    assert out.returncode == 0, f"{args}: rc {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def small_params(raw: dict[str, Any], methods: Sequence[str] = (METHOD,)) -> dict[str, Any]:
    """The project's params with a one-variant grid, small splits, 2 epochs, time-free metrics."""
    raw["run"].update({"variants": [VARIANT], "methods": list(methods), "seeds": [SEED]})
    if "variant_methods" in raw["run"]:
        raw["run"]["variant_methods"] = {}
    raw["profiles"]["mini"]["run"] = {}  # the quick default grid's overlay would put its seeds and lists back
    raw["variants"].update({"train_per_class": 10, "test_per_class": 4, "num_sampling": 3})
    raw["train"]["record_seconds"] = False  # metrics files must be byte-identical across front-ends
    raw["profiles"]["mini"]["train"]["max_epochs"] = 2
    # the train/deploy modality study runs on the same variant and trains no extra model here
    raw.setdefault("robustness", {}).update({"variant": VARIANT, "methods": []})
    return raw


def make_project(root: Path, features: bool = True) -> Paths:
    """Copy the front-ends into `root`, write small params and the synthetic stage-4 data.

    `features=False` leaves the features stage to the front-end under test (it is a GPU rule).
    """
    for name in FRONT_ENDS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy(src, root / name)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text("utf-8"))
    (root / "params.yaml").write_text(yaml.safe_dump(small_params(raw), sort_keys=False), "utf-8")
    paths = make(root)
    acc = paths.accepted
    # the outputs of the audio and text stages that DVC tracks, from the accepted tables
    write_parquet(paths.clips, pq.read_table(acc / "audio.parquet"), CLIPS)
    write_parquet(paths.generated, pq.read_table(acc / "text.parquet"), GENERATED)
    if features:
        write_cheap_features(paths)
    return paths


def git_init(root: Path) -> None:
    """A git repository with one commit (DVC experiments need one), DVC initialised offline."""
    run(root, "git", "init", "-q")
    run(root, str(BIN / "dvc"), "init", "-q")
    shutil.copy(ROOT / ".dvc/config", root / ".dvc/config")  # analytics and update checks off
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "project")


def snapshot(root: Path, *folders: str) -> dict[str, bytes]:
    """Every file under `folders` (relative to `root`) by relative path, with its bytes; Snakemake's
    marker in a directory output (`.snakemake_timestamp`) is bookkeeping, not output, and is left out."""
    out = {}
    for folder in folders:
        for f in sorted((root / folder).rglob("*")):
            if f.is_file() and f.name != ".snakemake_timestamp":
                out[str(f.relative_to(root))] = f.read_bytes()
    return out
