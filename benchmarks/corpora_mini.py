"""Time the mini corpus build (stage 1, profile mini) and print what it produced.

Usage: .venv/bin/python benchmarks/corpora_mini.py [--set corpora.mini.workers=2 ...]
Builds into a temporary project root, so data/ is left alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from lumabench.corpora import run
from lumabench.params import load_params
from lumabench.paths import Paths

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml", ["profile=mini", *args.overrides])
    with tempfile.TemporaryDirectory(prefix="lumabench-bench-") as tmp:
        paths = Paths(Path(tmp), "mini")
        start = time.perf_counter()
        run(params, paths)
        wall = time.perf_counter() - start
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        m = pd.read_parquet(paths.manifest)
    speech = m[m.kind == "speech"]
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, cores {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}")
    print("files per kind:", m.kind.value_counts().to_dict(), f"({m.bytes.sum() / 1e6:.0f} MB)")
    print("speech per class: min", speech.groupby("label").size().min(), "max", speech.groupby("label").size().max())
    print("voices:", speech.speaker.nunique(), speech.groupby("engine").speaker.nunique().to_dict())


if __name__ == "__main__":
    main()
