"""Clips per second of the audio stage (align + cut) and its alignment accuracy per engine.

Usage: .venv/bin/python benchmarks/audio_throughput.py [ROOT] [WORKERS ...]
ROOT is a project directory holding data/<profile>/raw/manifest.parquet (default: the current
directory); without one, a small espeak-ng corpus (the test fixture) is synthesised in a temporary
directory. WORKERS defaults to "1 <all cores>". Nothing is written under ROOT.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from lumabench.audio import ClipSink, extract
from lumabench.logs import setup_logging
from lumabench.params import load_params
from lumabench.paths import Paths


def _root(arg: str | None, tmp: str) -> Path:
    root = Path(arg or ".").resolve()
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    if (Paths(root, params.profile).manifest).is_file():
        return root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_audio_fixture import DECOYS, SENTENCES, VOICES, build_corpus

    print(f"no manifest under {root}; synthesising the espeak-ng test corpus", flush=True)
    build_corpus(Path(tmp), SENTENCES + DECOYS, VOICES)
    return Path(tmp)


def main() -> None:
    setup_logging()
    os.environ.setdefault("LUMABENCH_PROGRESS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        root = _root(sys.argv[1] if len(sys.argv) > 1 else None, tmp)
        workers = [int(w) for w in sys.argv[2:]] or [1, os.cpu_count() or 1]
        for n in workers:
            params = load_params(Path(__file__).resolve().parents[1] / "params.yaml", [f"audio.workers={n}"])
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                sink = ClipSink(Path(out))
                report = extract(params, Paths(root, params.profile), sink)
            dt = time.perf_counter() - t0
            n_clips = len(sink.rows)
            print(
                f"workers={n}: {n_clips} clips from {report['files']} files in {dt:.1f} s = {n_clips / dt:.1f} clips/s"
            )
        print(json.dumps(report["alignment_accuracy"], indent=2))
        print(f"skipped {len(report['skipped'])} files; dropped {report['dropped']}")


if __name__ == "__main__":
    main()
