"""`lumabench run`: the whole pipeline through Snakemake, with progress a person can follow.

Snakemake's own log is thorough but long (every job's rule, files and command). This runs it, keeps
that log in results/<profile>/logs/run.log, and prints one line per finished job instead: the stage,
jobs done of planned, the elapsed time and an estimate of the time left. The estimate weighs each
planned job by its stage's typical duration (the previous run's Snakemake benchmark files when there
are any, else `TYPICAL_S`, measured for the mini profile on 2 cores), and scales the remaining
weight by the pace seen so far.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lumabench.errors import InputError
from lumabench.params import LEVEL_SEP

#: seconds per job of each rule on the mini profile, 2 cores (benchmarks/default_run.py measures them)
TYPICAL_S = {
    "corpora": 52.0,
    "audio": 96.0,
    "text": 3.0,
    "annotate": 37.0,
    "features": 76.0,
    "variants": 3.3,
    "train": 32.0,
    "robustness": 73.0,
    "report": 58.0,
}
#: seconds of each training job of the mini default grid (`run.train_jobs: variant`), by variant or
#: sweep name, measured with TYPICAL_S: the jobs differ 15-fold (clean trains twelve models,
#: image_sp-1 evaluates five), so weighing them alike misjudged the time left by 2x mid-run
TYPICAL_TRAIN_S = {
    "clean": 143.0,
    "diversity": 84.0,
    "sample_noise": 154.0,  # re-embeds its 1,578 perturbed texts
    "label_sweep": 32.0,
    "missing_rate": 33.0,
    "conflict": 11.0,
    "missing": 13.5,
    "joint": 45.0,  # re-embeds its perturbed test and OOD texts
    "text_mask": 34.0,  # likewise
    "severity": 12.0,
    "image_gauss": 10.0,
    "image_sp": 9.5,
    "audio_snr": 9.5,
}
#: a training job of a variant not named above: one that trains its models, one that evaluates its
#: `model_from` source's models
TRAINS_S, EVALUATES_S = 80.0, 15.0
#: rules whose jobs take one core each, so `cores` of them run side by side (the others use every core)
ONE_CORE_RULES = ("variants", "train", "robustness")
NOTHING = "Nothing to be done"
_STATS = re.compile(r"^(\w+)\s+(\d+)$")
_FINISHED = re.compile(r"Finished job(?:id)?:? (\d+) \(Rule: (\w+)\)")
_ERROR = re.compile(r"^Error in rule (\w+):")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_VARIANT = re.compile(r"^\s+wildcards: variant=([^,\s]+)$")


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def train_key(variant: str) -> str:
    """The weight key of a variant's training job (`run.train_jobs: variant`)."""
    return f"train/{variant}"


def typical_seconds(bench_dir: Path, train_variants: dict[str, bool] | None = None) -> dict[str, float]:
    """Seconds per job: by rule, and per training job of the grid under `train_key` (`train_variants`:
    variant -> whether it evaluates its `model_from` source's models instead of training).

    Built-in figures (TYPICAL_S, TYPICAL_TRAIN_S by variant or sweep name, else TRAINS_S or
    EVALUATES_S) give way to a previous run's Snakemake benchmark files wherever those have the job.
    """
    out = dict(TYPICAL_S)
    for v, evaluates in (train_variants or {}).items():
        base = v.partition(LEVEL_SEP)[0]
        out[train_key(v)] = TYPICAL_TRAIN_S.get(v, TYPICAL_TRAIN_S.get(base, EVALUATES_S if evaluates else TRAINS_S))
    if not bench_dir.is_dir():
        return out
    for rule_dir in bench_dir.iterdir():
        files = [rule_dir] if rule_dir.is_file() else list(rule_dir.rglob("*.tsv"))
        secs = []
        for f in files:
            job = _job_seconds(f)
            secs += job
            if rule_dir.name == "train" and f.parent == rule_dir and job and f.stem in (train_variants or {}):
                out[train_key(f.stem)] = sum(job) / len(job)
        if secs:
            out[rule_dir.stem] = sum(secs) / len(secs)
    return out


def _job_seconds(tsv: Path) -> list[float]:
    """The wall seconds a Snakemake benchmark file records (none if it cannot be read)."""
    try:
        with tsv.open() as fh:
            return [float(r["s"]) for r in csv.DictReader(fh, delimiter="\t") if r.get("s")]
    except (OSError, ValueError, KeyError):
        return []


def wall_weights(seconds: dict[str, float], cores: int) -> dict[str, float]:
    """Each job's share of the wall clock: its seconds, divided by `cores` for the rules whose jobs run
    side by side (keys `rule` or `rule/job`), so the first estimate is not a serial sum."""
    return {k: s / max(1, cores) if k.split("/", 1)[0] in ONE_CORE_RULES else s for k, s in seconds.items()}


@dataclass
class Progress:
    """Jobs planned and done per rule; the time-left estimate.

    `weights` holds each rule's wall-clock weight per job and, under `rule/name`, that of a named
    job; `named` lists a rule's named jobs of the plan (e.g. every variant's training job), so the
    jobs still to come weigh what they will take, not the rule's mean.
    """

    weights: dict[str, float]
    planned: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    start: float = field(default_factory=time.monotonic)
    named: dict[str, list[str]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    done_weight: float = 0.0
    _started: dict[str, str] = field(default_factory=dict)  # Snakemake jobid -> job key
    _block: tuple[str, str | None] = ("", None)  # rule and jobid of the job block being read

    def weight(self, key: str) -> float:
        return self.weights.get(key, self.weights.get(key.split("/", 1)[0], 30.0))

    def left_weight(self) -> float:
        """The weight of the planned jobs not yet finished."""
        total = 0.0
        for rule, n in (self.planned - self.done).items():
            if rule in ("all", "default"):
                continue
            keys = [k for k in self.named.get(rule, []) if k not in self.finished]
            per = sum(map(self.weight, keys)) / len(keys) if keys else self.weight(rule)
            total += n * per
        return total

    def left_s(self, now: float) -> float | None:
        """Seconds left: remaining weight x (elapsed / weight done); None before the first job ends."""
        if self.done_weight <= 0:
            return None
        return max(0.0, self.left_weight() * (now - self.start) / self.done_weight)

    def read_job(self, line: str) -> None:
        """Note which job a Snakemake job block announces: its rule, jobid and `variant` wildcard."""
        m = _RULE.match(line)
        if m:
            self._block = (m.group(1), None)
            return
        rule, jobid = self._block
        if not rule:
            return
        if (j := _JOBID.match(line)) is not None:
            self._block = (rule, j.group(1))
            self._started.setdefault(j.group(1), rule)
        elif (v := _VARIANT.match(line)) is not None and jobid is not None:
            self._started[jobid] = f"{rule}/{v.group(1)}"
        elif not line.startswith((" ", "\t")):
            self._block = ("", None)

    def finish(self, rule: str, jobid: str) -> None:
        """Count a finished job and add its weight to the weight done."""
        key = self._started.pop(jobid, rule)
        self.done[rule] += 1
        self.finished.add(key)
        self.done_weight += self.weight(key)

    def line(self, rule: str, now: float) -> str:
        total = sum(n for r, n in self.planned.items() if r not in ("all", "default"))
        finished = sum(n for r, n in self.done.items() if r not in ("all", "default"))
        left = self.left_s(now)
        eta = f", about {_clock(left)} left" if left is not None and finished < total else ""
        return (
            f"[{finished}/{total} jobs] {rule} done ({self.done[rule]}/{self.planned[rule]}); "
            f"elapsed {_clock(now - self.start)}{eta}"
        )


def follow(lines: Iterable[str], progress: Progress, say: Callable[[str], None], log: Callable[[str], None]) -> bool:
    """Read Snakemake's output: log every line, `say` one per finished job; True if nothing was to do."""
    in_stats = False
    nothing = False
    for raw in lines:
        line = raw.rstrip("\n")
        log(line)
        if line.startswith("Job stats:"):
            in_stats, progress.planned = True, Counter()
            continue
        if in_stats:
            m = _STATS.match(line.strip())
            if m and m.group(1) != "total":
                progress.planned[m.group(1)] = int(m.group(2))
            elif line.strip() and not line.startswith(("job ", "---")) and not m:
                in_stats = False
                say(f"planned: {sum(progress.planned.values()) - progress.planned['default']} jobs "
                    f"({', '.join(f'{r} {n}' for r, n in progress.planned.items() if r != 'default')})")  # fmt: skip
        if NOTHING in line:
            nothing = True
        progress.read_job(line)
        m = _FINISHED.search(line)
        if m and m.group(2) not in ("all", "default"):
            progress.finish(m.group(2), m.group(1))
            say(progress.line(m.group(2), time.monotonic()))
        e = _ERROR.match(line)
        if e:
            say(f"error in {e.group(1)}: see the log named below")
    return nothing


def run(root: Path, profile: str, cores: int, extra: list[str], train_variants: dict[str, bool] | None = None) -> int:
    """Run Snakemake on `root` and report progress; return its exit code. `train_variants`: the grid's
    variants when each has one training job, and whether each evaluates another's models."""
    exe = shutil.which("snakemake")
    if exe is None:
        raise InputError("snakemake is not installed", root / "Makefile", "run `make setup` (it installs snakemake)")
    results = root / "results" / profile
    log_path = results / "logs" / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    weights = wall_weights(typical_seconds(results / "benchmarks", train_variants), cores)
    progress = Progress(weights, named={"train": [train_key(v) for v in train_variants or {}]})
    cmd = [exe, "--cores", str(cores), *extra]
    if profile != "mini":
        cmd += ["--config", f"profile={profile}"]
    say = lambda s: print(f"lumabench run: {s}", flush=True)  # noqa: E731
    say(f"snakemake on {cores} cores; full log: {log_path}")
    with (
        log_path.open("w", encoding="utf-8") as fh,
        subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc,
    ):
        assert proc.stdout is not None
        nothing = follow(proc.stdout, progress, say, lambda s: print(s, file=fh, flush=True))
        code = proc.wait()
    took = _clock(time.monotonic() - progress.start)
    if code != 0:
        say(f"failed after {took} (exit {code}); the last lines of {log_path} say why")
        tail = log_path.read_text(encoding="utf-8").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
    elif nothing:
        say(f"nothing to do: every output is up to date ({took})")
    else:
        report_log = results / "logs" / "report.log"
        if report_log.is_file() and progress.done["report"]:
            print("\n".join(report_log.read_text(encoding="utf-8").splitlines()[-40:]))
        say(f"done in {took}: {results / 'report.html'}")
    return code
