"""Fault injection: kill every stage at several points, rerun it, compare with an uninterrupted run.

Run: .venv/bin/python benchmarks/fault_injection.py [--stages corpora,audio,text,...] [--points 4]
     [--keep DIR]

A tiny project goes through the real command line, stage by stage: corpora (the embedded mini
corpus, one TTS voice) → audio (real forced alignment) → text (template) → annotate → features →
variants (clean and label_noise) → train (mcd_fused) → report. The uninterrupted run is the
reference; the project is snapshotted before and after every stage. Then, for every stage and
every kill point, the project as it was before the stage is restored, the stage is run and
killed, run again to completion, and every file under data/ and results/ is compared byte for
byte with the reference (a left-over temporary counts as a difference).

Kill points, alternating SIGKILL and SIGTERM:
- `write k`: the signal is raised inside the stage's k-th rename (`os.replace`), the moment
  between one finished file and the next; k spreads over every rename the reference run made.
- `time f`: the signal is sent from outside at fraction f of the stage's reference wall time.

Not compared: data/<profile>/cache/ (resumable work caches, e.g. text parts, whose partition
depends on when the kill came; hidden temporaries there still count) and the MLflow store
(`mlflow.db`, `mlartifacts/`: run ids and timestamps; a killed report must still leave a store
the rerun can use). A SIGTERM must end the stage with exit code 143 and one `interrupted by
SIGTERM` line (or, sent before the command line is up, end it with nothing written).

Prints one line per kill point, then "N kill points tried, all N reruns matched byte-for-byte"
(exit 0) or the differences (exit 1).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "mini"
TINY = [
    "corpora.mini.images_per_class=10",
    "corpora.mini.ood_images_per_class=4",
    "corpora.mini.sentences_per_word=8",
    "corpora.mini.ood_sentences_per_word=2",
    "corpora.mini.voices_min=1",
    "corpora.mini.engines=[espeak-ng]",
    "corpora.mini.espeak_voices=[en-us]",
    "corpora.mini.noise_seconds=1",
    "corpora.mini.noise_per_colour=1",
    "corpora.mini.packaged_sounds=false",
    "corpora.mini.workers=1",
    "audio.workers=1",
    "text.texts_per_class=10",
    "annotate.workers=1",
    "features.device=cpu",
    "variants.train_per_class=4",
    "variants.test_per_class=2",
    "variants.num_sampling=2",
    "run.variants=[clean]",
    "run.methods=[mcd_fused]",
    "run.seeds=[42]",
    "train.device=cpu",
    "train.max_epochs=2",
    "train.record_seconds=false",
    "methods.mcd_fused.samples=4",
    "methods.mcd_fused.sigma_samples=4",
    "report.dpi=40",
]
STAGES: list[tuple[str, list[str]]] = [
    ("corpora", ["corpora"]),
    ("audio", ["audio"]),
    ("text", ["text"]),
    ("annotate", ["annotate"]),
    ("features", ["features"]),
    ("variants", ["variants", "-v", "clean"]),
    ("variants-label_noise", ["variants", "-v", "label_noise"]),
    ("train", ["train", "-v", "clean", "-m", "mcd_fused", "-s", "42"]),
    ("report", ["report"]),
]
# The child: count or interrupt the stage's renames, then run the real command line.
SHIM = """
import atexit, os, signal, sys
kill_at, sig, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
real, n = os.replace, [0]
def replace(src, dst, *a, **k):
    n[0] += 1
    if n[0] - 1 == kill_at:
        os.kill(os.getpid(), sig)
    return real(src, dst, *a, **k)
os.replace = replace
if count_file:
    atexit.register(lambda: open(count_file, "w").write(str(n[0])))
sys.argv = ["lumabench", *sys.argv[4:]]
from lumabench.cli import main
main(sys.argv[1:])
"""
EXCLUDED_DIRS = ("cache",)
MLFLOW_DIRS = ("mlartifacts",)
EXCLUDED_FILES = ("mlflow.db",)


@dataclass
class Reference:
    before: Path
    after: Path
    seconds: float
    renames: int


def command(args: list[str]) -> list[str]:
    sets = [x for o in TINY for x in ("--set", o)]
    return ["--params", "params.yaml", *sets, *args]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "LUMABENCH_PROGRESS": "0",
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONHASHSEED": "0",
    }


def launch(project: Path, args: list[str], kill_at: int = -1, sig: int = 0, count: Path | None = None):
    """Start the stage in `project` (not waiting)."""
    argv = [sys.executable, "-c", SHIM, str(kill_at), str(sig), str(count or ""), *command(args)]
    return subprocess.Popen(argv, cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(project: Path, args: list[str], count: Path | None = None, timeout: float = 1800) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = launch(project, args, count=count)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err, time.perf_counter() - start


def fingerprint(project: Path) -> tuple[dict[str, str], list[str]]:
    """sha256 of every compared file under data/ and results/, and every hidden path anywhere there."""
    files: dict[str, str] = {}
    hidden: list[str] = []
    for top in ("data", "results"):
        base = project / top
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(project)
            parts = rel.parts
            if len(parts) > 2 and parts[2] in MLFLOW_DIRS:
                continue  # MLflow's own store (its upload temporaries included)
            if any(p.startswith(".") for p in parts):
                hidden.append(rel.as_posix())
                continue
            if not path.is_file() or path.name in EXCLUDED_FILES:
                continue
            if len(parts) > 2 and parts[2] in EXCLUDED_DIRS:
                continue
            files[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files, hidden


def differences(project: Path, reference: Path) -> list[str]:
    got, hidden = fingerprint(project)
    want, _ = fingerprint(reference)
    out = [f"left-over temporary: {h}" for h in hidden]
    out += [f"missing: {k}" for k in sorted(set(want) - set(got))]
    out += [f"extra: {k}" for k in sorted(set(got) - set(want))]
    out += [f"differs: {k}" for k in sorted(set(got) & set(want)) if got[k] != want[k]]
    return out


def restore(snapshot: Path, project: Path) -> None:
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(snapshot, project, symlinks=True)


def reference_run(work: Path, stages: list[tuple[str, list[str]]], start: Path | None = None) -> dict[str, Reference]:
    """Run every stage once, uninterrupted, snapshotting the project before and after each.

    The project starts empty but for params.yaml, or as a copy of `start` (a prepared project).
    """
    project = work / "project"
    if start is not None:
        shutil.copytree(start, project, symlinks=True)
    else:
        project.mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    refs: dict[str, Reference] = {}
    for name, args in stages:
        before = work / "snapshots" / f"{name}.before"
        shutil.copytree(project, before, symlinks=True)
        count = work / f"{name}.renames"
        code, err, seconds = run(project, args, count)
        if code != 0:
            raise SystemExit(f"reference run of {name} failed ({code}):\n{err[-3000:]}")
        after = work / "snapshots" / f"{name}.after"
        shutil.copytree(project, after, symlinks=True)
        leftovers = fingerprint(project)[1]
        if leftovers:
            raise SystemExit(f"reference run of {name} left hidden files: {leftovers[:5]}")
        refs[name] = Reference(before, after, seconds, int(count.read_text()))
        print(f"reference {name:22s} {seconds:6.1f} s, {refs[name].renames} renames", flush=True)
    return refs


def kill_points(
    ref: Reference, points: int, kinds: tuple[str, ...] = ("write", "time")
) -> list[tuple[str, float, int]]:
    """(kind, where, signal): `points` rename points spread over the run (the middle one when
    `points` is 1), then `points` times; the signals alternate."""
    sigs = (signal.SIGKILL, signal.SIGTERM)
    n = ref.renames
    if points == 1:
        writes = [n // 2] if n else []
    else:
        writes = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)}) if n else []
    out: list[tuple[str, float, int]] = []
    if "write" in kinds:
        out += [("write", float(k), sigs[i % 2]) for i, k in enumerate(writes)]
    if "time" in kinds:
        fractions = [(i + 1) / (points + 1) for i in range(points)]
        out += [("time", f, sigs[(i + 1) % 2]) for i, f in enumerate(fractions)]
    return out


def inject(project: Path, args: list[str], kind: str, where: float, sig: int, seconds: float) -> tuple[int, str]:
    """Run the stage and kill it at the point; return its exit code and stderr."""
    if kind == "write":
        proc = launch(project, args, kill_at=int(where), sig=sig)
    else:
        proc = launch(project, args)
        try:
            proc.wait(timeout=where * seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=1800)
    return proc.returncode, err


def visible_partials(project: Path, reference: Path, before: Path) -> list[str]:
    """Right after the kill: every file at a final path must be the complete run's (or untouched).

    A killed stage may leave its outputs missing (the front-ends rerun it), never half-written or
    from a mixed run; a training run's metrics must sit beside its own model and predictions.
    """
    got, _ = fingerprint(project)
    want, _ = fingerprint(reference)
    old, _ = fingerprint(before)
    out = [f"visible after the kill, not the complete run's: {k}" for k in sorted(got)
           if got[k] != want.get(k) and got[k] != old.get(k)]  # fmt: skip
    for metrics in (k for k in got if k.startswith(f"results/{PROFILE}/metrics/")):
        rest = metrics.removeprefix(f"results/{PROFILE}/metrics/").removesuffix(".json")
        for other in (f"results/{PROFILE}/models/{rest}.pt", f"results/{PROFILE}/predictions/{rest}.parquet"):
            if other not in got:
                out.append(f"metrics without their set: {metrics} but no {other}")
    return out


def campaign(
    work: Path,
    names: list[str],
    points: int,
    start: Path | None = None,
    kinds: tuple[str, ...] = ("write", "time"),
    chosen: list[tuple[str, float, int]] | None = None,
) -> tuple[int, list[str]]:
    """Every kill point of every stage in `names`; (points tried, failure messages).

    Without `start` the reference runs every stage from the first up to the last named one; with
    it (a project already holding the earlier stages' outputs) only the named stages run.
    `chosen` replaces the spread of kill points by these (kind, where, signal) for every stage.
    """
    if start is None:
        chain = STAGES[: max(i for i, (n, _) in enumerate(STAGES) if n in names) + 1]
    else:
        chain = [(n, a) for n, a in STAGES if n in names]
    refs = reference_run(work, chain, start)
    tried, failures = 0, []
    for name, args in chain:
        if name not in names:
            continue
        for kind, where, sig in chosen or kill_points(refs[name], points, kinds):
            project = work / "trial"
            restore(refs[name].before, project)
            code, err = inject(project, args, kind, where, sig, refs[name].seconds)
            problems = visible_partials(project, refs[name].after, refs[name].before)
            interrupted = code != 0
            early = code == -signal.SIGTERM and not err.strip()  # before the command line was up: nothing ran
            if sig == signal.SIGTERM and interrupted and not early:
                last = err.strip().splitlines()[-1] if err.strip() else ""
                if code != 143 or "interrupted by SIGTERM" not in last or "Traceback" in err:
                    problems.append(f"SIGTERM did not end the stage cleanly (exit {code}): {last[:200]}")
            again, err2, _ = run(project, args)
            if again != 0:
                problems.append(f"rerun failed ({again}): {err2.strip().splitlines()[-1:]} ")
            problems += differences(project, refs[name].after)
            tried += 1
            point = f"{kind} {int(where) if kind == 'write' else where:.2f}".replace(".00", "")
            status = "matched" if not problems else "MISMATCH"
            what = "finished first" if not interrupted else ("killed at start" if early else "killed")
            print(f"{name:22s} {point:12s} {signal.Signals(sig).name:7s} {what:14s} rerun {status}", flush=True)
            failures += [f"{name} {point} {signal.Signals(sig).name}: {p}" for p in problems]
    return tried, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", default=",".join(n for n, _ in STAGES), help="comma-separated stage names")
    ap.add_argument("--points", type=int, default=3, help="rename points and time points per stage")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    names = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(names) - {n for n, _ in STAGES})
    if unknown:
        raise SystemExit(f"unknown stages {unknown}; known: {', '.join(n for n, _ in STAGES)}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="lumabench-faults-"))
    try:
        tried, failures = campaign(work, names, args.points)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{tried} kill points tried; {len(failures)} differences:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print(f"{tried} kill points tried, all {tried} reruns matched byte-for-byte")


if __name__ == "__main__":
    main()
