"""`lumabench run` turns Snakemake's log into one line per finished job with jobs done and time left."""

from __future__ import annotations

from collections import Counter

from lumabench import pipeline

LOG = """Building DAG of jobs...
Job stats:
job         count
--------  -------
corpora         1
variants        2
train           2
report          1
default         1
total           7

Select jobs to execute...
[Wed Dec  2 10:00:00 2026]
localrule corpora:
Finished jobid: 6 (Rule: corpora)
1 of 7 steps (14%) done
Finished jobid: 4 (Rule: variants)
Finished jobid: 5 (Rule: variants)
Error in rule train:
Finished jobid: 2 (Rule: train)
Finished jobid: 0 (Rule: default)
"""


def test_one_line_per_finished_job_with_counts(monkeypatch) -> None:
    clock = iter([10.0, 20.0, 30.0, 40.0])
    monkeypatch.setattr(pipeline.time, "monotonic", lambda: next(clock))
    progress = pipeline.Progress({"corpora": 60.0, "variants": 5.0, "train": 50.0, "report": 30.0}, start=0.0)
    said, logged = [], []
    nothing = pipeline.follow(LOG.splitlines(True), progress, said.append, logged.append)
    assert not nothing and logged == LOG.splitlines()
    assert said[0] == "planned: 6 jobs (corpora 1, variants 2, train 2, report 1)"
    assert progress.planned == Counter({"corpora": 1, "variants": 2, "train": 2, "report": 1, "default": 1})
    # corpora done at t = 10 s: weight 60 of 200 done, so 140 left at 10/60 s per unit -> 23 s
    assert said[1] == "[1/6 jobs] corpora done (1/1); elapsed 0:10, about 0:23 left"
    assert said[2].startswith("[2/6 jobs] variants done (1/2); elapsed 0:20")
    assert said[4] == "error in train: see the log named below"
    assert said[5].startswith("[4/6 jobs] train done (1/2); elapsed 0:40, about ")
    assert len(said) == 6  # the `default` target is not a job of the pipeline


def test_estimate_scales_remaining_weight_by_the_pace_so_far() -> None:
    p = pipeline.Progress({"a": 10.0, "b": 30.0}, planned=Counter(a=2, b=1), start=0.0)
    assert p.left_s(5.0) is None  # nothing finished yet: no pace to scale by
    p.done["a"] = 1
    assert p.left_s(20.0) == (10.0 + 30.0) * 20.0 / 10.0


def test_nothing_to_do_is_recognised() -> None:
    p = pipeline.Progress(dict(pipeline.TYPICAL_S))
    lines = ["Building DAG of jobs...", "Nothing to be done (all requested files are present and up to date)."]
    assert pipeline.follow(lines, p, lambda s: None, lambda s: None)


def test_typical_seconds_come_from_the_last_runs_benchmarks(tmp_path) -> None:
    bench = tmp_path / "benchmarks"
    (bench / "train").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\n"
    (bench / "train" / "clean.tsv").write_text(header + "12.0\t0:00:12\t100\n")
    (bench / "train" / "joint.tsv").write_text(header + "4.0\t0:00:04\t100\n")
    (bench / "report.tsv").write_text(header + "33.0\t0:00:33\t100\n")
    got = pipeline.typical_seconds(bench)
    assert got["train"] == 8.0 and got["report"] == 33.0 and got["corpora"] == pipeline.TYPICAL_S["corpora"]


def test_jobs_that_run_side_by_side_weigh_their_share_of_the_wall_clock() -> None:
    """On 2 cores two training jobs run at once: each weighs half its seconds; a stage that takes every
    core (features) weighs all of its own."""
    w = pipeline.wall_weights({"features": 150.0, "train": 80.0, "variants": 12.0}, cores=2)
    assert w == {"features": 150.0, "train": 40.0, "variants": 6.0}
    assert pipeline.wall_weights({"train": 80.0}, cores=1) == {"train": 80.0}
