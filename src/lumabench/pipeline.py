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

#: seconds per job of each rule on the mini profile, 2 cores (benchmarks/default_run.py measures them)
TYPICAL_S = {
    "corpora": 85.0,
    "audio": 136.0,
    "text": 5.0,
    "annotate": 51.0,
    "features": 143.0,
    "variants": 4.6,
    "train": 56.0,
    "robustness": 122.0,
    "report": 85.0,
}
#: rules whose jobs take one core each, so `cores` of them run side by side (the others use every core)
ONE_CORE_RULES = ("variants", "train", "robustness")
NOTHING = "Nothing to be done"
_STATS = re.compile(r"^(\w+)\s+(\d+)$")
_FINISHED = re.compile(r"Finished job(?:id)?:? (\d+) \(Rule: (\w+)\)")
_ERROR = re.compile(r"^Error in rule (\w+):")


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def typical_seconds(bench_dir: Path) -> dict[str, float]:
    """Mean wall seconds per job of each rule from a previous run's benchmark files, else TYPICAL_S."""
    out = dict(TYPICAL_S)
    if not bench_dir.is_dir():
        return out
    for rule_dir in bench_dir.iterdir():
        files = [rule_dir] if rule_dir.is_file() else list(rule_dir.rglob("*.tsv"))
        secs = []
        for f in files:
            try:
                with f.open() as fh:
                    rows = list(csv.DictReader(fh, delimiter="\t"))
                secs += [float(r["s"]) for r in rows if r.get("s")]
            except (OSError, ValueError, KeyError):
                continue
        if secs:
            out[rule_dir.stem] = sum(secs) / len(secs)
    return out


def wall_weights(seconds: dict[str, float], cores: int) -> dict[str, float]:
    """Each rule's share of the wall clock per job: its seconds, divided by `cores` for the rules whose
    jobs run side by side, so the first estimate (before any pace is known) is not a serial sum."""
    return {r: s / max(1, cores) if r in ONE_CORE_RULES else s for r, s in seconds.items()}


@dataclass
class Progress:
    """Jobs planned and done per rule; the time-left estimate."""

    weights: dict[str, float]
    planned: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    start: float = field(default_factory=time.monotonic)

    def _weight(self, counts: Counter[str]) -> float:
        return sum(n * self.weights.get(rule, 30.0) for rule, n in counts.items() if rule not in ("all", "default"))

    def left_s(self, now: float) -> float | None:
        """Seconds left: remaining weight x (elapsed / weight done); None before the first job ends."""
        done = self._weight(self.done)
        if done <= 0:
            return None
        return max(0.0, self._weight(self.planned - self.done) * (now - self.start) / done)

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
        m = _FINISHED.search(line)
        if m and m.group(2) not in ("all", "default"):
            progress.done[m.group(2)] += 1
            say(progress.line(m.group(2), time.monotonic()))
        e = _ERROR.match(line)
        if e:
            say(f"error in {e.group(1)}: see the log named below")
    return nothing


def run(root: Path, profile: str, cores: int, extra: list[str]) -> int:
    """Run Snakemake on `root` and report progress; return its exit code."""
    exe = shutil.which("snakemake")
    if exe is None:
        raise InputError("snakemake is not installed", root / "Makefile", "run `make setup` (it installs snakemake)")
    results = root / "results" / profile
    log_path = results / "logs" / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(wall_weights(typical_seconds(results / "benchmarks"), cores))
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
