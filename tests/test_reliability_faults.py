"""The pytest part of benchmarks/fault_injection.py: the train stage killed (SIGKILL) through the
real command line between the renames of its output set, checked right after the kill, rerun, and
compared byte for byte with an uninterrupted run. The full sweep (every stage, rename and time
points, SIGKILL and SIGTERM) is the benchmark script; SIGTERM's one line is in test_reliability_outputs."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path

import pytest

import reliability_fixtures as rf

pytestmark = pytest.mark.slow


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fault_injection", rf.ROOT / "benchmarks" / "fault_injection.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_injection"] = module
    spec.loader.exec_module(module)
    return module


def test_train_killed_between_its_outputs_reruns_to_the_same_bytes(tmp_path: Path, capsys) -> None:
    fi = _script()
    start = tmp_path / "start"
    rf.make_project(start)
    # renames of a first train run: the three tensor-cache files, each with its key file, then model,
    # predictions, metrics; the kill comes between the model's rename and the predictions'
    points = [("write", 7.0, signal.SIGKILL)]
    tried, failures = fi.campaign(tmp_path / "work", ["train"], 0, start=start, chosen=points)
    out = capsys.readouterr().out
    assert "reference train" in out and ", 9 renames" in out, out
    assert tried == 1 and failures == [], failures
    assert out.count("killed") == 1 and out.count("rerun matched") == 1, out
