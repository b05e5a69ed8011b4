"""The single MLflow writer (DESIGN §5): one experiment per profile, one parent run per report,
nested runs per variant x method x training seed.

Runs are found again by a key tag (`lumabench.key`: profile, params hash, then variant, method and
`seed-S` for a nested run), so re-running the report updates the same runs instead of adding new ones:
metrics are logged only when their value changed, params only once, tags are overwritten, artifacts
replaced in place. A nested run carries its training seed as param `seed` and tag `lumabench.seed`
(the data seed as param `data_seed`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lumabench.errors import LumabenchError
from lumabench.io import atomic_via_dir, sha256_file
from lumabench.params import Params, params_hash
from lumabench.paths import Paths

log = logging.getLogger(__name__)

KEY_TAG = "lumabench.key"
PARENT_KEY_TAG = "lumabench.parent_key"
_TAG_NAME_BAD = re.compile(r"[^\w./\- ]")
_PARAM_MAX = 6000


@dataclass(frozen=True)
class Provenance:
    """What a report was made from: code version, parameters and data hashes."""

    git_commit: str
    git_dirty: bool | None
    params_hash: str
    data_source: str
    data_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def data_digest(self) -> str:
        """One short hash over every data hash, for a single comparable tag."""
        blob = "\n".join(f"{k}\t{v}" for k, v in sorted(self.data_hashes.items())).encode()
        return hashlib.sha256(blob).hexdigest()[:16] if self.data_hashes else "unknown"


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def data_hashes(paths: Paths) -> tuple[str, dict[str, str]]:
    """Hashes of this profile's data outputs from dvc.lock, else the sha256 of the raw manifest."""
    lock = paths.root / "dvc.lock"
    prefix = f"data/{paths.profile}/"
    if lock.is_file():
        try:
            doc = yaml.safe_load(lock.read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            log.warning("dvc.lock is not valid YAML (%s); using the manifest hash instead", exc)
            doc = {}
        found: dict[str, str] = {}
        for stage in (doc.get("stages") or {}).values():
            for out in (stage or {}).get("outs") or []:
                path, md5 = str(out.get("path", "")), out.get("md5")
                if path.startswith(prefix) and md5:
                    found[path] = str(md5)
        if found:
            return "dvc.lock", dict(sorted(found.items()))
    if paths.manifest.is_file():
        rel = paths.manifest.relative_to(paths.root).as_posix()
        return "manifest sha256", {rel: sha256_file(paths.manifest)}
    log.warning("no dvc.lock entry and no %s: the report records no data hash", paths.manifest)
    return "none", {}


def provenance(params: Params, paths: Paths) -> Provenance:
    commit = _git(paths.root, "rev-parse", "HEAD") or "unknown"
    status = _git(paths.root, "status", "--porcelain", "--untracked-files=no") if commit != "unknown" else None
    source, hashes = data_hashes(paths)
    return Provenance(commit, None if status is None else bool(status), params_hash(params), source, hashes)


def tracking_uri(params: Params, paths: Paths) -> str:
    """MLFLOW_TRACKING_URI, else params report.tracking_uri, else the profile's sqlite file."""
    return os.environ.get("MLFLOW_TRACKING_URI") or params.report.tracking_uri or paths.mlflow_uri


def quiet_environment() -> None:
    """Turn off MLflow's usage telemetry and cap HTTP retries before mlflow is imported."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def tag_name(text: str) -> str:
    """MLflow allows letters, digits, `_ - . / space` in keys; anything else becomes `_`."""
    return _TAG_NAME_BAD.sub("_", text)


@dataclass(frozen=True)
class RunSpec:
    """One run to create or update: key, name, params, metrics, tags and artifact files."""

    key: str
    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[tuple[Path, str | None]]


def _provenance_tags(prov: Provenance, profile: str) -> dict[str, str]:
    tags = {
        "lumabench.profile": profile,
        "lumabench.params_hash": prov.params_hash,
        "lumabench.git_commit": prov.git_commit,
        "mlflow.source.git.commit": prov.git_commit,
        "lumabench.data_source": prov.data_source,
        "lumabench.data_hash": prov.data_digest,
    }
    if prov.git_dirty is not None:
        tags["lumabench.git_dirty"] = str(prov.git_dirty).lower()
    return tags


class Tracker:
    """Create-or-update runs in one experiment through MlflowClient (no global active-run state)."""

    def __init__(self, uri: str, experiment: str, artifact_location: str | None) -> None:
        quiet_environment()
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=artifact_location)
        else:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            self.experiment_id = found.experiment_id

    def runs_with_tag(self, tag: str, value: str) -> list[Any]:
        from mlflow.entities import ViewType

        out: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{tag}` = '{value}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            out.extend(page)
            token = page.token
            if not token:
                return out

    def upsert(self, spec: RunSpec, existing: Any | None, parent_id: str | None) -> str:
        """Create the run (or reuse `existing`), then log what changed and mark it finished."""
        from mlflow.entities import Metric, Param, RunTag

        tags = dict(spec.tags) | {KEY_TAG: spec.key, "mlflow.runName": spec.name}
        if parent_id is not None:
            tags["mlflow.parentRunId"] = parent_id
        if existing is None:
            run = self.client.create_run(self.experiment_id, run_name=spec.name, tags={KEY_TAG: spec.key})
            run_id, old_metrics, old_params = run.info.run_id, {}, {}
        else:
            run_id = existing.info.run_id
            old_metrics, old_params = dict(existing.data.metrics), dict(existing.data.params)
        params = []
        for k, v in spec.params.items():
            if k not in old_params:
                params.append(Param(k, v[:_PARAM_MAX]))
            elif old_params[k] != v[:_PARAM_MAX]:
                log.warning("run %s: param %s was %r, now %r; MLflow keeps the first", spec.key, k, old_params[k], v)
        now = _now_ms()
        metrics = [
            Metric(k, v, now, 0)
            for k, v in spec.metrics.items()
            if math.isfinite(v) and (k not in old_metrics or old_metrics[k] != v)
        ]
        run_tags = [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, max(len(metrics), len(params), len(run_tags)), 100):
            self.client.log_batch(
                run_id, metrics=metrics[i : i + 100], params=params[i : i + 100], tags=run_tags[i : i + 100]
            )
        for path, artifact_dir in spec.artifacts:
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), artifact_dir)
            elif path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_dir)
        self.client.set_terminated(run_id, "FINISHED")
        return run_id


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def log_report(
    params: Params,
    paths: Paths,
    prov: Provenance,
    parent: RunSpec,
    children: list[RunSpec],
) -> tuple[str, str, int]:
    """Write the parent and nested runs; returns (tracking URI, parent run id, nested run count).

    Failures of the tracking backend become one LumabenchError naming the URI.
    """
    seen: set[str] = set()
    for spec in children:
        if spec.key in seen:
            # two nested runs with one key would update one MLflow run twice (e.g. seeds not in the key)
            raise LumabenchError(
                f"two nested runs share the key {spec.key!r}", fix="key each run by variant, method and seed"
            )
        seen.add(spec.key)
    uri = tracking_uri(params, paths)
    local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
    artifact_location = (paths.results / "mlartifacts").resolve().as_uri() if local else None
    experiment = params.report.experiment.format(profile=params.profile)
    quiet_environment()
    from mlflow.exceptions import MlflowException

    try:
        if uri.startswith("sqlite:///"):
            create_sqlite_store(Path(uri.removeprefix("sqlite:///")))
        tracker = Tracker(uri, experiment, artifact_location)
        old_parent = tracker.runs_with_tag(KEY_TAG, parent.key)
        parent_id = tracker.upsert(parent, old_parent[0] if old_parent else None, None)
        old_children = {r.data.tags.get(KEY_TAG): r for r in tracker.runs_with_tag(PARENT_KEY_TAG, parent.key)}
        for spec in children:
            child = replace(spec, tags=spec.tags | {PARENT_KEY_TAG: parent.key})
            tracker.upsert(child, old_children.get(spec.key), parent_id)
    except (MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LumabenchError(
            f"MLflow tracking failed ({first})",
            uri,
            "check MLFLOW_TRACKING_URI / report.tracking_uri, or unset them to use the profile's sqlite file",
        ) from exc
    log.info("MLflow: experiment %r at %s, parent run %s, %d nested runs", experiment, uri, parent_id, len(children))
    return uri, parent_id, len(children)


def create_sqlite_store(db: Path) -> None:
    """Create a missing SQLite store complete or not at all: MLflow builds its schema in a temporary
    folder first, so a report killed during the schema migration cannot leave a half-built store
    that fails every later report ("duplicate column name")."""
    if db.exists():
        return
    from mlflow.tracking import MlflowClient

    with atomic_via_dir(db) as tmp:
        MlflowClient(tracking_uri=f"sqlite:///{tmp.as_posix()}").search_experiments(max_results=1)


def report_key(params: Params, prov: Provenance) -> str:
    """The parent run's key: the same parameters give the same report run."""
    return f"report/{params.profile}/{prov.params_hash}"


def base_tags(prov: Provenance, profile: str) -> dict[str, str]:
    return _provenance_tags(prov, profile)


def data_tags(prov: Provenance) -> dict[str, str]:
    """One tag per data hash (`data.<path>`), for the parent run."""
    return {tag_name(f"data.{path}"): value for path, value in prov.data_hashes.items()}


def variant_data_hash(prov: Provenance, paths: Paths, variant: str) -> str | None:
    rel = f"data/{paths.profile}/variants/{variant}"
    return prov.data_hashes.get(rel)
