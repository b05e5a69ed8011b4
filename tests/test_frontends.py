"""Snakemake and DVC declare the same stages, inputs and outputs as the stage table, and plan them all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from lumabench.dvcplots import render
from lumabench.params import load_params
from lumabench.paths import Paths
from lumabench.stages import BY_NAME, STAGES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

Plan = dict[str, tuple[str, frozenset[str]]]  # output path -> (stage, inputs)


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def snakemake_dry() -> str:
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall"], cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def _snakemake_plan(text: str) -> Plan:
    plan: Plan = {}
    for block in re.split(r"\n(?=rule \w+:)", text):
        head = re.match(r"rule (\w+):", block)
        if not head or head.group(1) == "default":
            continue
        fields = dict(re.findall(r"^    (input|output): (.*)$", block, re.M))
        ins = frozenset(x.strip() for x in fields.get("input", "").split(",") if x.strip())
        for out in fields["output"].split(","):
            plan[out.strip()] = (head.group(1), ins)
    return plan


@pytest.fixture(scope="module")
def dvc_plan() -> tuple[Plan, dict[str, set[str]]]:
    from dvc.repo import Repo

    plan: Plan = {}
    params: dict[str, set[str]] = defaultdict(set)
    with Repo(str(ROOT)) as repo:
        for st in repo.index.stages:
            base = st.name.split("@")[0]
            deps = frozenset(str(d.def_path) for d in st.deps if str(d.def_path) != "params.yaml")
            for o in st.outs:
                plan[str(o.def_path)] = (base, deps)
            for d in st.deps:
                if hasattr(d, "params"):
                    params[base] |= {p.split(".")[0] for p in d.params}
    return plan, params


def _covered(inputs: frozenset[str], declared: frozenset[str]) -> frozenset[str]:
    """Map each input file onto the declared path that equals it or contains it (a directory)."""
    out = set()
    for i in inputs:
        hits = [d for d in declared if i == d or i.startswith(d.rstrip("/") + "/")]
        assert hits, f"{i} is not declared"
        out.add(max(hits, key=len))
    return frozenset(out)


def test_snakemake_lint_is_clean() -> None:
    out = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=ROOT, capture_output=True, text=True, env=_env())
    assert out.returncode == 0 and "Congratulations" in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakemake_plans_every_stage(snakemake_dry: str) -> None:
    p = load_params(ROOT / "params.yaml")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", snakemake_dry.split("Job stats:")[1], re.M))
    v = len(p.run.variants)
    assert p.run.train_jobs == "variant"  # the mini default: one training job per variant
    expected = {"corpora": 1, "audio": 1, "text": 1, "annotate": 1, "features": 1, "variants": v, "train": v}
    assert {k: int(counts[k]) for k in expected} == expected and int(counts["report"]) == 1


def test_dvc_repro_dry_plans_every_stage() -> None:
    out = subprocess.run(
        [str(BIN / "dvc"), "repro", "--dry", "--force"], cwd=ROOT, capture_output=True, text=True, env=_env()
    )
    assert out.returncode == 0, out.stderr
    p = load_params(ROOT / "params.yaml")
    ran = re.findall(r"Running stage '([^']+)'", out.stdout)
    bases = [r.split("@")[0] for r in ran]
    assert bases.count("train") == len(p.run.variants)  # one stage per variant trains its methods x seeds
    assert bases.count("variants") == len(p.run.variants)
    assert {"corpora", "audio", "text", "annotate", "features", "report"} <= set(bases)


def test_both_front_ends_declare_the_same_graph(snakemake_dry: str, dvc_plan) -> None:
    smk = _snakemake_plan(snakemake_dry)
    dvc, _ = dvc_plan
    assert set(smk) == set(dvc), set(smk) ^ set(dvc)
    for out, (rule, ins) in smk.items():
        stage, deps = dvc[out]
        assert rule == stage, out
        # A `model_from` variant's job also waits for its source's model under Snakemake; DVC's matrix
        # cannot name it, and the stage then trains the identical model itself (tests/test_model_from.py).
        ins = frozenset(i for i in ins if not (rule == "train" and "/models/" in i))
        assert _covered(ins, deps) == deps, (out, ins, deps)


def test_front_ends_match_the_stage_table(dvc_plan) -> None:
    dvc, params = dvc_plan
    p = load_params(ROOT / "params.yaml")
    paths = Paths(Path("."), p.profile)
    expected: set[str] = set()
    for st in STAGES:
        grid = [{"variant": v} for v in p.run.variants]  # DVC: one train stage per variant
        for opts in grid:
            expected |= {os.path.normpath(str(o)) for o in st.outputs(paths, opts)}
        assert set(st.sections) == params[st.name], st.name
    assert expected == set(dvc)


def test_dvc_tracks_each_stage_section_and_its_overlay_only(dvc_plan) -> None:
    """A stage's params are its sections plus `profiles.<profile>.<section>` of each, never the whole
    `profiles`: a profile key re-runs only the stages that read its section (config/README.md)."""
    from dvc.repo import Repo

    p = load_params(ROOT / "params.yaml")
    with Repo(str(ROOT)) as repo:
        for st in repo.index.stages:
            stage = BY_NAME[st.name.split("@")[0]]
            names = {n for d in st.deps if hasattr(d, "params") for n in d.params}
            own = [s for s in stage.sections if s not in ("profile", "seed", "profiles")]
            want = {f"profiles.{p.profile}.{s}" for s in own}
            got = {n for n in names if n.split(".")[0] == "profiles"}
            assert got == want, f"dvc.yaml stage {st.name}: track {sorted(want)} instead of {sorted(got)}"


def test_every_profile_names_every_section_dvc_tracks() -> None:
    """DVC fails on a missing params key, so each profile lists each tracked section (`{}`: none)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    tracked = {s for st in STAGES for s in st.sections if s not in ("profile", "seed", "profiles")}
    assert set(raw["profiles"]) == {"mini", "full"}
    for name, overlay in raw["profiles"].items():
        assert tracked <= set(overlay), (name, tracked - set(overlay))
        assert all(isinstance(v, dict) for v in overlay.values()), name


def test_conda_envs_agree_with_environment_yml() -> None:
    def pins(doc: dict) -> tuple[set[str], set[str]]:
        conda, pip = set(), set()
        for dep in doc["dependencies"]:
            if isinstance(dep, dict):
                pip |= {p for p in dep["pip"] if not p.startswith("-e ")}
            else:
                conda.add(dep)
        return conda, pip

    main = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert main["channels"] == ["conda-forge", "nodefaults"]
    conda_all, pip_all = pins(main)
    assert all("=" in c for c in conda_all) and all("==" in p for p in pip_all)

    def norm(spec: str) -> str:
        return spec.strip().lower().replace("_", "-")

    lock = {norm(ln).split("==")[0]: norm(ln) for ln in (ROOT / "requirements.lock").read_text().splitlines()}
    for p in pip_all:
        assert lock.get(norm(p).split("==")[0]) == norm(p), f"{p} differs from requirements.lock"
    used = set()
    for env in sorted((ROOT / "workflow/envs").glob("*.yaml")):
        doc = yaml.safe_load(env.read_text())
        assert doc["channels"] == ["conda-forge", "nodefaults"], env.name
        conda, pip = pins(doc)
        assert conda <= conda_all, (env.name, conda - conda_all)
        assert pip <= pip_all, (env.name, pip - pip_all)
        used.add(env.name)
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    assert used == set(re.findall(r'"\.\./envs/([\w.]+)"', rules))


def test_conda_envs_pin_the_versions_of_requirements_lock() -> None:
    """Every package a conda env pins (pip or conda-forge) that requirements.lock also pins has its version."""

    def norm(name: str) -> str:
        return name.strip().lower().replace("_", "-")

    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            lock[norm(name)] = version.strip()
    shared = 0
    for env in [ROOT / "environment.yml", *sorted((ROOT / "workflow/envs").glob("*.yaml"))]:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pins = [p for d in deps if isinstance(d, dict) for p in d["pip"] if not p.startswith("-e ")]
        pins += [d.replace("=", "==", 1) for d in deps if isinstance(d, str)]
        for pin in pins:
            name, version = pin.split("==", 1)
            if norm(name) in lock:
                shared += 1
                assert lock[norm(name)] == version.strip(), (
                    f"{env.name}: {pin} but requirements.lock has {lock[norm(name)]}"
                )
    assert shared > 20  # the envs do share the locked packages (a renamed lock would pass vacuously)


def test_tools_are_kept_offline() -> None:
    cfg = (ROOT / ".dvc/config").read_text()
    assert re.search(r"analytics\s*=\s*false", cfg) and re.search(r"check_update\s*=\s*false", cfg)


def test_slurm_profile_asks_slurm_for_gpus_and_takes_no_local_gpu_slot() -> None:
    """profiles/default is read with profiles/slurm and its `resources` win, so its local GPU limits
    would throttle the whole cluster: every job the cluster path plans takes none of them, and each GPU
    rule asks SLURM for a GPU on the gpu partition (tests/test_slurm.py runs it on a real scheduler)."""
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["retries"] >= 1
    assert "software-deployment-method" not in slurm  # conda is opt-in (--sdm conda): clusters without it work
    gpu_rules = {s.name for s in STAGES if s.gpu}
    assert {r for r, res in slurm["set-resources"].items() if res.get("gres") == "gpu:1"} == gpu_rules
    local = dict(r.split("=") for r in yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())["resources"])
    gpu_limits = {name for name in local if name.startswith("gpu")}
    assert gpu_limits == {"gpu", "gpu_train"}
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall", "--profile", "profiles/slurm", "--config", "profile=full"],
        cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    planned: set[str] = set()
    for block in out.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        found = re.search(r"^\s*resources: (.*)$", block, re.M)
        if not found:
            continue
        res = dict(kv.split("=", 1) for kv in found.group(1).split(", "))
        assert all(res.get(name, "0") == "0" for name in gpu_limits), (rule, res)
        if rule in gpu_rules:
            assert res["gres"] == "gpu:1" and res["slurm_partition"] == "gpu", (rule, res)
            planned.add(rule)
    assert planned == gpu_rules


def test_full_profile_trains_in_gpu_slots_and_runs_other_gpu_rules_alone() -> None:
    """Locally, training jobs share the GPU (`gpu_train` slots); audio, text and features take it whole."""
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall", "--config", "profile=full"],
        cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    resources: dict[str, set[str]] = {}
    for block in out.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        found = re.search(r"^\s*resources: (.*)$", block, re.M)
        resources.setdefault(rule, set()).add(found.group(1) if found else "")
    gpu_rules = {s.name for s in STAGES if s.gpu} - {"train"}
    assert gpu_rules and all(any("gpu=1" in r for r in resources[g]) for g in gpu_rules), resources
    assert all("gpu_train=1" in r and "gpu=" not in r for r in resources["train"]), resources["train"]
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    slots = dict(r.split("=") for r in default["resources"])
    assert int(slots["gpu"]) == 1 and int(slots["gpu_train"]) >= 1
    # the `run.*` overlay of profiles.full reaches Snakemake's grid: every full seed is planned
    full = load_params(ROOT / "params.yaml", ["profile=full"])
    mini = load_params(ROOT / "params.yaml")
    assert full.run.seeds != mini.run.seeds
    seeds = set(re.findall(r"^\s*wildcards: variant=[^,]+, method=\w+, seed=(\d+)$", out.stdout, re.M))
    assert seeds == {str(s) for s in full.run.seeds}
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout.split("Job stats:")[1], re.M))
    assert full.run.train_jobs == "model"  # a job per model: parallel on a GPU or a cluster
    assert int(counts["train"]) == len(full.run.cells())


def test_seed_wildcard_is_digits_only() -> None:
    """`seed-{seed}` matches digits only, so a stray file name never becomes a training job
    (one job per model: `run.train_jobs: model`, as the full profile sets it)."""
    good = "results/mini/metrics/clean/mcd_image/seed-7.json"
    per_model = ["--config", "run={train_jobs: model}"]
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall", "results/mini/metrics/clean/mcd_image/seed-x.json", *per_model],
        cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert out.returncode != 0 and "No rule to produce" in out.stdout + out.stderr
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--forceall", good, *per_model],
        cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "wildcards: variant=clean, method=mcd_image, seed=7" in out.stdout
    assert "train -v 'clean' -m mcd_image -s 7 >" in out.stdout


def test_dvc_plots_match_the_files_the_report_writes() -> None:
    from lumabench.report.plotdata import dvc_plot_definitions

    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert "results/${profile}/figures" in declared
    expected = {}
    for d in dvc_plot_definitions(load_params(ROOT / "params.yaml"), "results/${profile}/tables"):
        expected.update(d)
    for entry in declared:
        if isinstance(entry, dict):
            ((name, spec),) = entry.items()
            assert expected.get(name) == spec, f"dvc.yaml plot {name} differs from the report's files"
    top = yaml.safe_load((ROOT / "dvc.yaml").read_text())["metrics"]
    assert top == ["results/${profile}/metrics.json"]
    # and the section is exactly what `make dvc-plots` writes from the grid
    text = (ROOT / "dvc.yaml").read_text()
    assert render(text, load_params(ROOT / "params.yaml")) == text, "run `make dvc-plots`"
