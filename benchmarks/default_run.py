"""The default run from nothing, as a new user gets it: wall time per stage, jobs, quality floors.

Copies the project's files (tracked and untracked, not data/ or results/) into a temporary folder,
runs `lumabench run` there (what `make run` calls), then runs it a second time, which must find
nothing to do. Prints:
- total wall time, per stage the number of jobs and their summed seconds (Snakemake's benchmark
  files), and the second run's wall time;
- the quality figures the default run must keep on the clean variant: best fused accuracy, the
  lowest unimodal accuracy against 3x chance, the Deep Ensemble fused OOD AUROC (epistemic), and
  whether mean test aleatoric uncertainty rises with the label-switch rate and the image severity
  for every MC Dropout and Deep Ensemble model.

Usage: .venv/bin/python benchmarks/default_run.py [--cores N] [--keep DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANCE = 1 / 42


def copy_project(dest: Path) -> None:
    """The files git knows of or would add (tracked and untracked, not ignored), and the venv link."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    for rel in filter(None, out.stdout.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def stage_seconds(bench: Path) -> dict[str, tuple[int, float]]:
    """rule -> (jobs, summed job seconds) from Snakemake's benchmark files."""
    out: dict[str, list[float]] = defaultdict(list)
    for f in sorted(bench.rglob("*.tsv")):
        rule = f.relative_to(bench).parts[0].removesuffix(".tsv")
        with f.open() as fh:
            out[rule] += [float(r["s"]) for r in csv.DictReader(fh, delimiter="\t")]
    return {r: (len(v), sum(v)) for r, v in out.items()}


def _metric(results: Path, variant: str, method: str, *keys: str) -> float | None:
    vals = []
    for f in sorted((results / "metrics" / variant / method).glob("seed-*.json")):
        node = json.loads(f.read_text())
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, (int, float)):
            vals.append(float(node))
    return statistics.fmean(vals) if vals else None


def quality(results: Path, methods: list[str], fused: list[str], unimodal: list[str]) -> dict[str, object]:
    acc = {m: _metric(results, "clean", m, "test", "acc") for m in methods}
    best = max((m for m in fused if acc[m] is not None), key=lambda m: acc[m] or 0.0)
    worst_uni = min((m for m in unimodal if acc[m] is not None), key=lambda m: acc[m] or 0.0)
    sweeps = {
        "label_sweep": ["clean", "label_sweep-0.1", "label_sweep-0.2", "label_sweep-0.3"],
        "severity": ["clean", "severity-1", "severity-3", "severity-5"],
    }
    monotone: dict[str, dict[str, bool]] = {}
    for name, variants in sweeps.items():
        for m in methods:
            if not (m.startswith(("mcd_", "de_"))):
                continue
            if name == "severity" and not (m.endswith("_image") or m.endswith("_fused")):
                continue  # audio- and text-only models see the same inputs at every image severity
            ys = [_metric(results, v, m, "test", "aleatoric") for v in variants]
            if all(y is not None for y in ys):
                monotone.setdefault(name, {})[m] = all(a < b for a, b in itertools.pairwise(ys))
    return {
        "best_fused": (best, acc[best]),
        "lowest_unimodal": (worst_uni, acc[worst_uni], round(acc[worst_uni] / CHANCE, 1) if acc[worst_uni] else None),
        "de_fused_ood_auroc": _metric(results, "clean", "de_fused", "ood", "auroc_epistemic"),
        "aleatoric_rises": monotone,
        "accuracy_clean": acc,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="lumabench-default-run-"))
    work.mkdir(parents=True, exist_ok=True)
    copy_project(work)
    # the copy's own sources (ahead of the venv's editable path): edits to this checkout during a
    # run do not change what is measured
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(work / "src")}
    lb = [str(ROOT / ".venv" / "bin" / "lumabench"), "run", "--cores", str(a.cores)]
    t0 = time.monotonic()
    first = subprocess.run(lb, cwd=work, env=env)
    wall = time.monotonic() - t0
    t1 = time.monotonic()
    second = subprocess.run(lb, cwd=work, env=env, capture_output=True, text=True)
    again = time.monotonic() - t1
    results = work / "results" / "mini"
    sys.path.insert(0, str(ROOT / "src"))
    from lumabench.params import load_params

    p = load_params(work / "params.yaml")
    methods = p.run.methods
    fused = [m for m in methods if len(p.methods[m].modalities) > 1]
    unimodal = [m for m in methods if len(p.methods[m].modalities) == 1]
    out = {
        "cores": a.cores,
        "exit": first.returncode,
        "wall_s": round(wall, 1),
        "stages": stage_seconds(results / "benchmarks"),
        "second_run_s": round(again, 1),
        "second_run_nothing_to_do": "nothing to do" in second.stdout,
        "quality": quality(results, methods, fused, unimodal) if first.returncode == 0 else None,
    }
    print(f"default run: exit {first.returncode}, {out['wall_s'] / 60:.1f} min wall on {a.cores} cores")
    for rule, (jobs, secs) in out["stages"].items():
        print(f"  {rule:<11} {jobs:>3} jobs  {secs:8.1f} s summed")
    print(f"second run: {again:.1f} s, nothing to do: {out['second_run_nothing_to_do']}")
    q = out["quality"]
    if q:
        print(f"best fused accuracy (clean): {q['best_fused'][0]} {q['best_fused'][1]:.3f} (floor 0.88)")
        print(f"lowest unimodal accuracy: {q['lowest_unimodal'][0]} {q['lowest_unimodal'][1]:.3f} "
              f"= {q['lowest_unimodal'][2]}x chance (floor 3x)")  # fmt: skip
        print(f"de_fused OOD AUROC (epistemic): {q['de_fused_ood_auroc']:.3f} (floor 0.80)")
        for name, by in q["aleatoric_rises"].items():
            bad = [m for m, ok in by.items() if not ok]
            note = f" (not: {', '.join(bad)})" if bad else ""
            print(f"aleatoric rises with {name}: {sum(by.values())}/{len(by)} models{note}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    print(f"run folder: {work}")
    return first.returncode


if __name__ == "__main__":
    sys.exit(main())
