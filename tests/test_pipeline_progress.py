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
    p.finish("a", "7")
    assert p.left_s(20.0) == (10.0 + 30.0) * 20.0 / 10.0


def _job_block(rule: str, jobid: int, variant: str | None) -> str:
    """A job as Snakemake 9 announces it when it starts, then its end."""
    wild = f"    wildcards: variant={variant}\n" if variant else ""
    return (
        f"[Fri Dec  4 12:00:00 2026]\nrule {rule}:\n    input: data/mini/variants/x\n    jobid: {jobid}\n"
        f"    benchmark: results/mini/benchmarks/{rule}.tsv\n{wild}    threads: 1\n"
        f"Shell command: lumabench train\n\nFinished jobid: {jobid} (Rule: {rule})\n"
    )


def test_training_jobs_weigh_what_their_variant_takes(monkeypatch) -> None:
    """One job trains for 100 s, nine evaluate for 10 s each (one core, steady pace). Once the long
    one is done, 90 s are left; weighing every training job as the rule's mean said 900."""
    names = ["clean", *(f"eval{i}" for i in range(9))]
    weights = {"train": 19.0, "train/clean": 100.0, **{f"train/eval{i}": 10.0 for i in range(9)}}
    monkeypatch.setattr(pipeline.time, "monotonic", lambda: 100.0)
    said: list[str] = []
    p = pipeline.Progress(weights, planned=Counter(train=10), start=0.0,
                          named={"train": [pipeline.train_key(v) for v in names]})  # fmt: skip
    pipeline.follow(_job_block("train", 3, "clean").splitlines(True), p, said.append, lambda s: None)
    assert p.finished == {"train/clean"} and p.done_weight == 100.0
    assert p.left_s(100.0) == 90.0
    assert said == ["[1/10 jobs] train done (1/10); elapsed 1:40, about 1:30 left"]
    old = pipeline.Progress({"train": 19.0}, planned=Counter(train=10), start=0.0)
    old.finish("train", "3")
    assert old.left_s(100.0) == 900.0


def test_a_job_without_a_variant_weighs_its_rule() -> None:
    """A job of a rule with no variant wildcard, or of one not named in the plan, weighs its rule's mean."""
    p = pipeline.Progress({"report": 58.0, "train": 30.0, "train/clean": 140.0}, planned=Counter(report=1, train=2),
                          start=0.0, named={"train": ["train/clean"]})  # fmt: skip
    pipeline.follow(_job_block("report", 5, None).splitlines(True), p, lambda s: None, lambda s: None)
    assert p.done_weight == 58.0 and p.finished == {"report"}
    # two training jobs planned, one named: the one named weighs for both until it finishes
    assert p.left_weight() == 2 * 140.0
    pipeline.follow(_job_block("train", 6, "other").splitlines(True), p, lambda s: None, lambda s: None)
    assert p.done_weight == 58.0 + 30.0 and p.left_weight() == 140.0


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
    # each training job of the grid: the last run's own seconds, else the built-in figure by variant
    # or sweep name, else by whether it trains or evaluates
    grid = {"clean": False, "joint": True, "label_sweep-0.2": False, "mine": True, "mine2": False}
    got = pipeline.typical_seconds(bench, grid)
    assert got["train/clean"] == 12.0 and got["train/joint"] == 4.0
    assert got["train/label_sweep-0.2"] == pipeline.TYPICAL_TRAIN_S["label_sweep"]
    assert got["train/mine"] == pipeline.EVALUATES_S and got["train/mine2"] == pipeline.TRAINS_S
    assert pipeline.typical_seconds(tmp_path / "none", grid)["train/clean"] == pipeline.TYPICAL_TRAIN_S["clean"]


def test_jobs_that_run_side_by_side_weigh_their_share_of_the_wall_clock() -> None:
    """On 2 cores two training jobs run at once: each weighs half its seconds; a stage that takes every
    core (features) weighs all of its own."""
    w = pipeline.wall_weights({"features": 150.0, "train": 80.0, "train/clean": 140.0, "variants": 12.0}, cores=2)
    assert w == {"features": 150.0, "train": 40.0, "train/clean": 70.0, "variants": 6.0}
    assert pipeline.wall_weights({"train": 80.0}, cores=1) == {"train": 80.0}
