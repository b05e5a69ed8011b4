"""Shared pieces of the reliability tests: a tiny trainable project and a child-process runner.

The project is a synthetic variant (tests/synth_variant.py) plus a features-stage text matrix
(`interim/features/text.{npy,parquet}`, `meta.json`) that covers every text of the variant, so
training reuses those rows and never loads the sentence encoder: one `train.run` takes a second
or two, which is what lets the tests kill it at every write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lumabench import io as lio
from lumabench.params import Params, parse_overrides, resolve_raw
from lumabench.paths import Paths
from lumabench.schemas import FEATURE_IDS
from lumabench.seeding import rng
from synth_variant import quick_training, write_variant

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
TEXT_DIM = 16
VARIANT = "clean"
METHOD = "mcd_text"
SEED = 3
TREE = {
    "run": {"variants": [VARIANT], "methods": [METHOD], "seeds": [SEED]},
    "variants": {"definitions": {VARIANT: {"family": "clean"}}},
    "methods": {METHOD: {"kind": "mc_dropout", "modalities": ["text"], "dropout": 0.3, "samples": 4}},
}
FAST = [
    *quick_training(2, batch_size=16, lr=None, spectrogram=16),
    f"methods.{METHOD}.sigma_samples=4",
]


def params(*extra: str) -> Params:
    """The tiny configuration (`extra` overrides on top, e.g. another learning rate)."""
    return Params.model_validate(resolve_raw(TREE, parse_overrides([*FAST, *extra])))


def make_project(root: Path) -> Paths:
    """A synthetic clean variant and a class-dependent text feature matrix for all its texts."""
    write_variant(root, VARIANT, train_per_class=8, test_per_class=3, ood_per_class=3)
    paths = Paths(root, "mini")
    ids, labels = [], []
    for split in ("train", "test", "ood"):
        t = pq.read_table(paths.variant(VARIANT) / f"{split}.parquet", columns=["text_id", "class_id"])
        ids += t.column("text_id").to_pylist()
        labels += t.column("class_id").to_pylist()
    centres = rng(0, "reliability", "centres").normal(0, 1, (50, TEXT_DIM))
    noise = rng(0, "reliability", "noise").normal(0, 0.3, (len(ids), TEXT_DIM))
    write_text_features(paths, ids, (centres[labels] + noise).astype(np.float32))
    return paths


def write_text_features(paths: Paths, ids: list[str], matrix: np.ndarray) -> None:
    """interim/features/text.{npy,parquet} and a meta.json, as the features stage lays them out."""
    paths.features.mkdir(parents=True, exist_ok=True)
    np.save(paths.features / "text.npy", matrix, allow_pickle=False)
    table = pa.table({"id": ids, "label": ["x"] * len(ids)})
    lio.write_parquet(paths.features / "text.parquet", table, FEATURE_IDS)
    (paths.features / "meta.json").write_text(json.dumps({"fingerprint": "fixed"}), "utf-8")


def outputs(paths: Paths) -> list[Path]:
    """Model, predictions and metrics of the tiny run (metrics last)."""
    return [
        paths.model(VARIANT, METHOD, SEED),
        paths.predictions(VARIANT, METHOD, SEED),
        paths.metrics(VARIANT, METHOD, SEED),
    ]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) by relative path: what a rerun must reproduce."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    """Hidden files or folders anywhere under `folder` (left-over temporaries)."""
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob(".*"))


def child(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with the tests folder importable (so it can use this module)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("LUMABENCH_PROGRESS", "0")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
