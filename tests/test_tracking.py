"""MLflow tracking: idempotent runs by key, tags and namespaced metrics, a real tracking server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lumabench.errors import LumabenchError
from lumabench.params import params_hash
from lumabench.paths import Paths
from lumabench.tracking import KEY_TAG, Provenance, RunSpec, data_hashes, log_report, tag_name, tracking_uri
from test_report_fixture import make_params, make_results, reported_twice, run_report

__all__ = ["reported_twice"]


def _client(uri: str):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, experiment: str) -> list:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_report_twice_keeps_one_run_per_key(reported_twice: dict) -> None:
    fx, first, second = reported_twice["fx"], reported_twice["first"], reported_twice["second"]
    assert first.tracking_uri == fx.paths.mlflow_uri  # the default: the profile's sqlite file
    assert (fx.paths.results / "mlflow.db").is_file()
    assert first.parent_run_id == second.parent_run_id
    runs = _runs(first.tracking_uri, "lumabench-mini")
    n = len(fx.params.run.variants) * len(fx.params.run.methods) * len(fx.params.run.seeds)
    assert len(runs) == 1 + n
    keys = [r.data.tags[KEY_TAG] for r in runs]
    assert len(set(keys)) == len(keys)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == first.parent_run_id]
    assert len(children) == n and all(r.info.status == "FINISHED" for r in runs)


def test_runs_carry_params_metrics_tags_and_figures(reported_twice: dict) -> None:
    fx, first = reported_twice["fx"], reported_twice["first"]
    client = _client(first.tracking_uri)
    runs = {r.data.tags["mlflow.runName"]: r for r in _runs(first.tracking_uri, "lumabench-mini")}
    run = runs["severity-3/rcml_fused/seed-42"]
    want = json.loads(fx.paths.metrics("severity-3", "rcml_fused", 42).read_text())
    assert run.data.metrics["test/acc"] == pytest.approx(want["test"]["acc"])
    assert run.data.metrics["ood/auroc_epistemic"] == pytest.approx(want["ood"]["auroc_epistemic"])
    assert run.data.metrics["per_modality/text/acc"] == pytest.approx(want["per_modality"]["text"]["acc"])
    # logged once although the report ran twice
    assert len(client.get_metric_history(run.info.run_id, "test/acc")) == 1
    assert run.data.params["variant"] == "severity-3" and run.data.params["level"] == "3.0"
    assert run.data.params["kind"] == "rcml" and run.data.params["sweep"] == "image.severity"
    assert run.data.params["seed"] == "42" and run.data.params["data_seed"] == str(fx.params.seed)
    tags = run.data.tags
    assert tags["lumabench.seed"] == "42" and tags[KEY_TAG].endswith("/severity-3/rcml_fused/seed-42")
    assert tags["lumabench.params_hash"] == params_hash(fx.params)
    assert tags["lumabench.git_commit"] == "unknown"  # the fixture root is not a git repository
    assert tags["lumabench.data_source"] == "none" and tags["lumabench.data_hash"] == "unknown"
    names = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert names == {"figures/roc_severity-3.png"}
    assert "figures/samples_severity-3.png" in tags["lumabench.parent_figures"]
    parent = client.get_run(first.parent_run_id)
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "metrics.json", "tables", "figures"} <= top
    in_parent = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert {f"figures/{p.name}" for p in fx.paths.figures.glob("*.png")} == in_parent
    assert os.environ.get("MLFLOW_DISABLE_TELEMETRY") == "true"


def test_one_nested_run_per_training_seed(tmp_path: Path) -> None:
    fx = make_results(tmp_path, make_params(["clean"], ["mcd_image", "rcml_fused"], [42, 7]), sheet=False)
    first = run_report(fx)
    second = run_report(fx)
    assert first.parent_run_id == second.parent_run_id
    runs = _runs(first.tracking_uri, "lumabench-mini")
    children = {r.data.tags["mlflow.runName"]: r for r in runs if r.data.tags.get("mlflow.parentRunId")}
    assert sorted(children) == [
        "clean/mcd_image/seed-42", "clean/mcd_image/seed-7", "clean/rcml_fused/seed-42", "clean/rcml_fused/seed-7",
    ]  # fmt: skip
    assert len(runs) == 1 + 4 and len({r.data.tags[KEY_TAG] for r in runs}) == 5
    for name, run in children.items():
        seed = name.rsplit("-", 1)[1]
        assert run.data.params["seed"] == seed and run.data.tags["lumabench.seed"] == seed
        assert run.data.params["data_seed"] == "42" and run.data.tags[KEY_TAG].endswith(f"/{name}")
        method = name.split("/")[1]
        want = json.loads(fx.paths.metrics("clean", method, int(seed)).read_text())
        assert run.data.metrics["test/acc"] == pytest.approx(want["test"]["acc"])
    accs = {run.data.metrics["test/acc"] for name, run in children.items() if "/mcd_image/" in name}
    assert len(accs) == 2  # each seed's own numbers, not one seed logged twice


def test_nested_runs_sharing_a_key_are_refused(tmp_path: Path) -> None:
    params = make_params(["clean"], ["mcd_image"])
    paths = Paths(tmp_path, "mini")
    prov = Provenance("unknown", None, params_hash(params), "none")
    parent = RunSpec("report/mini/x", "report", {}, {}, {}, [])
    child = RunSpec("report/mini/x/clean/mcd_image", "clean/mcd_image", {}, {}, {}, [])
    with pytest.raises(LumabenchError, match="two nested runs share the key 'report/mini/x/clean/mcd_image'"):
        log_report(params, paths, prov, parent, [child, child])
    assert not (paths.results / "mlflow.db").exists()  # refused before anything was written


def test_tracking_uri_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = make_params(["clean"], ["mcd_image"])
    paths = Paths(tmp_path, "mini")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(params, paths) == f"sqlite:///{tmp_path}/results/mini/mlflow.db"
    params.report.tracking_uri = "sqlite:///elsewhere.db"
    assert tracking_uri(params, paths) == "sqlite:///elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert tracking_uri(params, paths) == "http://127.0.0.1:1"


def test_data_hashes_from_dvc_lock_else_manifest(tmp_path: Path) -> None:
    paths = Paths(tmp_path, "mini")
    assert data_hashes(paths) == ("none", {})
    paths.manifest.parent.mkdir(parents=True)
    paths.manifest.write_bytes(b"manifest bytes")
    assert data_hashes(paths) == (
        "manifest sha256",
        {"data/mini/raw/manifest.parquet": hashlib.sha256(b"manifest bytes").hexdigest()},
    )
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n"
        "  corpora:\n    cmd: x\n    outs:\n    - path: data/mini/raw\n      hash: md5\n      md5: aaa.dir\n"
        "  variants@severity-3:\n    cmd: y\n    outs:\n    - path: data/mini/variants/severity-3\n"
        "      md5: bbb.dir\n    - path: data/full/raw\n      md5: ccc.dir\n"
        "  report:\n    cmd: z\n    outs:\n    - path: results/mini/tables\n      md5: ddd.dir\n"
    )
    assert data_hashes(paths) == ("dvc.lock", {"data/mini/raw": "aaa.dir", "data/mini/variants/severity-3": "bbb.dir"})
    assert tag_name("data.data/mini/variants/a@b:c") == "data.data/mini/variants/a_b_c"


def test_unreachable_server_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fx = make_results(tmp_path, make_params(["clean"], ["mcd_image"]), sheet=False)
    port = _free_port()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(LumabenchError) as err:
        run_report(fx, f"http://127.0.0.1:{port}")
    assert err.value.path == f"http://127.0.0.1:{port}" and "MLflow tracking failed" in err.value.one_line()


# ---------------------------------------------------------------- a real server on loopback
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path, reported_twice: dict) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on 127.0.0.1 with a sqlite backend and proxied artifacts in tmp_path.

    The backend starts as a copy of the session's store (already migrated, so the server starts
    faster); the test then writes to a new experiment that only the server knows.
    """
    shutil.copyfile(reported_twice["fx"].paths.results / "mlflow.db", tmp_path / "server.db")
    port = _free_port()
    artifacts = tmp_path / "server-artifacts"
    exe = Path(sys.executable).with_name("mlflow")
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(artifacts),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield url, artifacts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        log.close()


def test_tracking_server_via_env(tmp_path: Path, mlflow_server: tuple[str, Path]) -> None:
    url, artifacts = mlflow_server
    params = make_params(["severity-3"], ["mcd_image", "rcml_fused"])
    params.report.experiment = "server-{profile}"
    fx = make_results(tmp_path / "proj", params)
    first = run_report(fx, url)
    second = run_report(fx, url)
    assert first.tracking_uri == url and first.parent_run_id == second.parent_run_id
    runs = _runs(url, "server-mini")
    assert len(runs) == 1 + 2 * len(params.run.seeds)  # parent + one nested run per method and seed
    assert not (fx.paths.results / "mlflow.db").exists()  # nothing went to the local default
    stored = {p.name for p in artifacts.rglob("*") if p.is_file()}
    assert {"report.html", "metrics.json", "roc_severity-3.png", "samples_severity-3.png"} <= stored
