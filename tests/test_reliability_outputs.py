"""Training outputs appear as one set whenever the process dies; SIGTERM ends a stage like Ctrl-C;
killed writes leave no temporaries behind the next run; the checkpoint is byte-identical on rerun."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
from pathlib import Path

import pytest
import torch
import yaml

import reliability_fixtures as rf
from lumabench import io as lio
from lumabench import train
from lumabench.params import parse_overrides, resolve_raw
from lumabench.paths import Paths

OLD = ("train.lr=0.003", "train.max_epochs=1")  # the previous run: different weights, same files
NEW = ("train.max_epochs=1",)


class Killed(BaseException):
    """Stands for the process dying at that point (a BaseException: no stage code catches it)."""


def _set(paths: Paths) -> list[bytes | None]:
    return [p.read_bytes() if p.is_file() else None for p in rf.outputs(paths)]


def _restore(paths: Paths, files: list[bytes | None]) -> None:
    for p, b in zip(rf.outputs(paths), files, strict=True):
        if b is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, list[bytes | None], list[bytes | None]]:
    """The project and two complete sets: the old run's and the new run's (tensor cache warm)."""
    paths = rf.make_project(tmp_path_factory.mktemp("sets"))
    train.run(rf.params(*OLD), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    old = _set(paths)
    train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    new = _set(paths)
    assert None not in old and None not in new
    assert all(a != b for a, b in zip(old, new, strict=True))
    return paths, old, new


def _consistent(paths: Paths, old: list[bytes | None], new: list[bytes | None]) -> None:
    """The invariant a reader relies on: a metrics file means its own run's model and predictions."""
    now = _set(paths)
    if now[2] is not None:
        assert now in (old, new), "metrics beside a model or predictions of another run"


def test_the_checkpoint_is_byte_identical_on_rerun(runs) -> None:
    """`record_seconds: false` made metrics identical but not the model: it held fit's timing and
    torch named its archive after the random temporary file."""
    paths, _, new = runs
    train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    assert _set(paths) == new
    assert torch.load(rf.outputs(paths)[0], weights_only=False)["fit"]["seconds"] is None


def test_a_kill_at_any_write_leaves_old_set_new_set_or_no_metrics(runs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill (in process) before each rename and each removal the run makes; every time, the files
    on disk must be the old set, the new set, or lack metrics; the next run completes the new set."""
    paths, old, new = runs
    calls: list[str] = []
    kill_at: list[int] = [-1]
    real_replace, real_unlink = os.replace, pathlib.Path.unlink

    def replace(src, dst, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(f"replace {Path(dst).name}")
        if len(calls) - 1 == kill_at[0]:
            raise Killed
        return real_replace(src, dst, *a, **k)

    def unlink(self, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(f"unlink {self.name}")
        if len(calls) - 1 == kill_at[0]:
            raise Killed
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(pathlib.Path, "unlink", unlink)
    _restore(paths, old)
    train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    points = len(calls)
    assert points >= 3 and _set(paths) == new
    for k in range(points):
        _restore(paths, old)
        calls.clear()
        kill_at[0] = k
        with pytest.raises(Killed):
            train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
        _consistent(paths, old, new)
    kill_at[0] = -1
    train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    assert _set(paths) == new and rf.hidden(paths.results) == []


_KILL_ON_SECOND_RENAME = """
import os, signal, sys
import reliability_fixtures as rf
from lumabench import train
real = os.replace
count = [0]
def replace(src, dst, *a, **k):
    count[0] += 1
    if count[0] == 2:  # after the model's rename, before the predictions'
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from lumabench.paths import Paths
train.run(rf.params(*{new!r}), Paths(__import__("pathlib").Path.cwd(), "mini"), rf.VARIANT, rf.METHOD, rf.SEED)
"""


def test_sigkill_between_renames_then_rerun(runs) -> None:
    """A real SIGKILL between the model's and the predictions' renames: no metrics may sit beside
    the new model, and the next successful run removes the orphaned temporaries."""
    paths, old, new = runs
    _restore(paths, old)
    done = rf.child(_KILL_ON_SECOND_RENAME.format(new=NEW), cwd=paths.root)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    _consistent(paths, old, new)
    assert _set(paths)[2] is None  # the set is visibly incomplete
    assert rf.hidden(paths.results), "a SIGKILL mid-write leaves temporaries (no finally runs)"
    train.run(rf.params(*NEW), paths, rf.VARIANT, rf.METHOD, rf.SEED)
    assert _set(paths) == new
    assert rf.hidden(paths.results) == []


_SIGNAL_WHILE_WRITING = """
import os, signal
# A job started in the background by a non-interactive shell inherits SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler; a terminal's Ctrl-C always finds the default one.
signal.signal(signal.SIGINT, signal.default_int_handler)
from lumabench import io as lio
real = lio.write_parquet_to
def write(*a, **k):  # the model's temporary is written, the predictions' is being written
    os.kill(os.getpid(), signal.{sig})
    return real(*a, **k)
lio.write_parquet_to = write
from lumabench.cli import main
main(["--params", "params.yaml", "train", "-v", "clean", "-m", "mcd_text", "-s", "3"])
"""


@pytest.mark.parametrize(("sig", "code", "name"), [("SIGTERM", 143, "SIGTERM"), ("SIGINT", 130, "Ctrl-C")])
def test_a_signal_ends_the_stage_with_one_line_and_no_temporaries(tmp_path: Path, sig: str, code: int, name: str):
    paths = rf.make_project(tmp_path)
    tree = resolve_raw(rf.TREE, parse_overrides([*rf.FAST, *NEW]))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tree), "utf-8")
    done = rf.child(_SIGNAL_WHILE_WRITING.format(sig=sig), cwd=tmp_path)
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lumabench train: interrupted by {name}") and "fix: run the same command again" in last
    assert rf.hidden(paths.results) == [] and rf.hidden(paths.data) == []
    assert not [p for p in paths.results.rglob("*") if p.is_file()]


def test_stale_temporaries_go_but_a_live_writers_stay(tmp_path: Path) -> None:
    target = tmp_path / "out" / "seed-1.json"
    target.parent.mkdir()
    orphan = target.parent / ".seed-1.json.ab12cd34.json"  # what a killed writer leaves
    orphan.write_text("half")
    orphan_dir = target.parent / ".seed-1.json.zz99yy88"
    orphan_dir.mkdir()
    unrelated = target.parent / ".seed-1.json.bak"  # not one of ours: never touched
    unrelated.write_text("keep")
    with lio.atomic_path(target, ".json") as tmp:
        assert not orphan.exists() and not orphan_dir.exists() and unrelated.exists()
        tmp.write_text("{}")
        assert lio.remove_stale_temps(target) == []  # a live writer holds its lock
        assert tmp.exists()
    assert target.read_text() == "{}" and sorted(p.name for p in target.parent.iterdir()) == [
        ".seed-1.json.bak",
        "seed-1.json",
    ]
    shutil.rmtree(tmp_path / "out")


_FORKED_WORKERS = """
import multiprocessing as mp, os, signal, time
from lumabench import cli
cli._HANDLER_PID.append(os.getpid())
signal.signal(signal.SIGTERM, cli._on_sigterm)
ctx = mp.get_context("fork")
p = ctx.Process(target=time.sleep, args=(30,))
p.start()
time.sleep(0.3)
p.terminate()
p.join(10)
with ctx.Pool(2) as pool:  # leaving the block terminates the workers with SIGTERM
    assert pool.map(abs, range(-5, 5)) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
print(p.exitcode)
"""


def test_forked_workers_still_die_by_sigterm(tmp_path: Path) -> None:
    """Pool.terminate stops forked workers with SIGTERM; the stage's handler must not keep them alive."""
    done = rf.child(_FORKED_WORKERS, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(-signal.SIGTERM) and "Traceback" not in done.stderr


_KILL_MID_MIGRATION = """
import os, signal, sys
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine
from lumabench import tracking
seen = [0]
@event.listens_for(Engine, "before_cursor_execute")
def count(conn, cursor, statement, *a):
    if statement.lstrip().upper().startswith(("ALTER", "CREATE")):
        seen[0] += 1
        if seen[0] == 25:  # well inside MLflow's schema migration
            os.kill(os.getpid(), signal.SIGKILL)
tracking.create_sqlite_store(Path(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_report_killed_while_mlflow_builds_its_store_leaves_no_half_store(tmp_path: Path) -> None:
    """Killed during MLflow's schema migration, an in-place store failed every later report with
    `duplicate column name`; the store is now built aside and renamed in when complete."""
    import subprocess
    import sys

    db = tmp_path / "results" / "mlflow.db"
    code = _KILL_MID_MIGRATION + "\n"
    done = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not db.exists() and rf.hidden(db.parent)  # only an orphaned temporary folder
    from mlflow.tracking import MlflowClient

    from lumabench.tracking import create_sqlite_store

    create_sqlite_store(db)
    client = MlflowClient(tracking_uri=f"sqlite:///{db.as_posix()}")
    assert client.get_experiment(client.create_experiment("after-the-kill")).name == "after-the-kill"
    assert rf.hidden(db.parent) == []
