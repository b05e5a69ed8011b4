"""The CLI: one command per stage with documented I/O, one-line errors, exit codes."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumabench import stages
from lumabench.cli import main
from lumabench.stages import STAGES, Stage

ROOT = Path(__file__).resolve().parents[1]
PARAMS = str(ROOT / "params.yaml")


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=cwd) if cwd else _noop():
        result = runner.invoke(main, ["--params", PARAMS, *args], catch_exceptions=True)
    return result.exit_code, result.stdout, result.stderr


class _noop:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_every_stage_documents_inputs_outputs_params(stage: str) -> None:
    code, out, _ = invoke(stage, "--help")
    assert code == 0
    assert "Inputs:" in out and "Outputs:" in out and "Params:" in out
    for section in stages.BY_NAME[stage].sections:
        assert section in out


def test_classes_table() -> None:
    code, out, _ = invoke("classes", "--format", "csv")
    rows = out.strip().splitlines()
    assert code == 0 and rows[0] == "id,name,split,cifar_source" and len(rows) == 51
    assert rows[16] == "15,fish,id,cifar100:aquarium_fish"
    assert rows[44] == "43,truck,ood,cifar10:truck+cifar100:pickup_truck"


def test_params_resolved_with_overrides() -> None:
    code, out, _ = invoke("--set", "profile=full", "params", "--section", "text")
    assert code == 0 and "backend: transformers" in out
    code, out, _ = invoke("params", "--schema")
    assert code == 0 and '"title": "lumabench params.yaml"' in out


def test_bad_param_is_one_line_and_nonzero() -> None:
    code, out, err = invoke("--set", "train.lr=-1", "params")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lumabench params: invalid parameter train.lr")
    assert "fix:" in lines[0]


def _fake_stage(monkeypatch: pytest.MonkeyPatch, module: str) -> Stage:
    orig = stages.BY_NAME["report"]
    fake = Stage("report", module, orig.summary, orig.sections, orig.inputs, orig.outputs)
    monkeypatch.setitem(stages.BY_NAME, "report", fake)
    import lumabench.cli as cli

    monkeypatch.setitem(cli.BY_NAME, "report", fake)
    return fake


def test_unbuilt_stage_exits_2_with_one_line_and_writes_nothing(monkeypatch, tmp_path) -> None:
    _fake_stage(monkeypatch, "lumabench.not_a_stage_module")
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("report")
    assert code == 2 and out == "" and err == "lumabench report: not built yet\n"
    assert list(tmp_path.iterdir()) == []


def test_missing_input_names_file_and_producer(monkeypatch, tmp_path) -> None:
    mod = types.ModuleType("lumabench_fake_report")
    mod.run = lambda params, paths, **o: (_ for _ in ()).throw(AssertionError("must not run"))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lumabench_fake_report", mod)
    _fake_stage(monkeypatch, "lumabench_fake_report")
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("report")
    assert code == 1
    assert err.strip() == (
        f"lumabench report: missing input; file: {tmp_path}/results/mini/metrics; "
        "fix: run `lumabench train` first (or `make run`)"
    )


def test_debug_shows_traceback(monkeypatch, tmp_path) -> None:
    mod = types.ModuleType("lumabench_fake_report2")

    def boom(params, paths, **o):
        from lumabench.errors import InputError

        raise InputError("bad table", "x.parquet", "rebuild it")

    mod.run = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lumabench_fake_report2", mod)
    _fake_stage(monkeypatch, "lumabench_fake_report2")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/mini/metrics").mkdir(parents=True)
    code, _, err = invoke("report")
    assert code == 1 and err.strip() == "lumabench report: bad table; file: x.parquet; fix: rebuild it"
    monkeypatch.setattr(sys, "argv", ["lumabench", "--debug", "report"])
    result = CliRunner().invoke(main, ["--params", PARAMS, "--debug", "report"])
    assert result.exit_code != 0 and result.exception is not None and "bad table" in str(result.exception)


def _fake_train(monkeypatch: pytest.MonkeyPatch, calls: list[dict]) -> None:
    mod = types.ModuleType("lumabench_fake_train")
    mod.run = lambda params, paths, **o: calls.append(o)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lumabench_fake_train", mod)
    orig = stages.BY_NAME["train"]
    fake = Stage("train", "lumabench_fake_train", orig.summary, orig.sections, orig.inputs, orig.outputs, orig.gpu)
    import lumabench.cli as cli

    monkeypatch.setitem(cli.BY_NAME, "train", fake)


def test_train_takes_methods_and_seeds_defaulting_to_the_grid(monkeypatch, tmp_path) -> None:
    from lumabench.params import load_params

    calls: list[dict] = []
    _fake_train(monkeypatch, calls)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/mini/variants/clean").mkdir(parents=True)
    (tmp_path / "data/mini/variants/image_gauss-3").mkdir(parents=True)
    p = load_params(PARAMS)
    assert invoke("train", "-v", "clean", "-m", "mcd_image")[0] == 0
    assert invoke("train", "-v", "clean", "-m", "mcd_image", "-s", "7")[0] == 0
    assert invoke("train", "-v", "clean", "-m", "mcd_image", "--seed", "8", "-s", "9", "-m", "de_text")[0] == 0
    assert invoke("--set", "run.seeds=[5, 6]", "train", "-v", "clean", "-m", "mcd_image")[0] == 0
    assert invoke("train", "-v", "clean")[0] == 0
    assert invoke("train", "-v", "image_gauss-3")[0] == 0
    assert [c["seeds"] for c in calls[:4]] == [tuple(p.run.seeds), (7,), (8, 9), (5, 6)]
    assert calls[2]["methods"] == ("mcd_image", "de_text")
    # without -m: the grid's methods for that variant (run.variant_methods narrows the noise sweeps)
    assert calls[4]["methods"] == tuple(p.run.methods_for("clean"))
    assert calls[5]["methods"] == tuple(p.run.methods_for("image_gauss-3")) != tuple(p.run.methods)
    code, _, err = invoke("train", "-v", "clean", "-m", "mcd_image", "-s", "-1")
    assert code == 2 and "-1" in err and len(calls) == 6  # not a valid seed: click refuses it
    code, out, _ = invoke("train", "--help")
    assert code == 0 and "-s, --seed" in out and "run.seeds" in out
    assert "metrics/<variant>/<method>/seed-<seed>.json" in out


def test_console_script_installed(root: Path) -> None:
    import subprocess

    bin_dir = Path(sys.executable).parent
    out = subprocess.run([str(bin_dir / "lumabench"), "--version"], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0 and "version" in out.stdout


def test_run_refuses_overrides_the_pipeline_would_not_see(monkeypatch) -> None:
    """Snakemake reads params.yaml itself; `lumabench --set x=y run` must not pretend to apply x."""
    from lumabench import pipeline

    monkeypatch.setattr(pipeline, "run", lambda *a, **k: pytest.fail("the pipeline started"))
    code, _, err = invoke("--set", "profiles.mini.run={}", "run")
    assert code != 0
    assert "passes only --set profile=" in err and "profiles.mini.run" in err
