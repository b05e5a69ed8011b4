"""One unit of mini-corpus work, run in a pool worker: a block of image classes, a voice, or the noise bank.

Kept apart from mini.py so a worker process imports only what rendering and synthesis need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lumabench.classes import CLASSES
from lumabench.corpora import images, noise, speech

Task = tuple[str, Any, Any, int, Path]  # (kind, what, corpora.mini params, seed, output dir)


def run_task(task: Task) -> list[dict[str, Any]]:
    """Write the task's files; return their manifest rows."""
    kind, what, cfg, seed, out = task
    if kind == "images":
        return [row for name in what for row in images.render_class(name, cfg, seed, out)]
    if kind == "speech":
        return speech.run_job(what, out)
    return noise.build_noise(cfg, seed, out)


def expected_files(task: Task) -> int:
    """How many files the task writes (for the progress bar)."""
    kind, what, cfg, _, _ = task
    if kind == "images":
        return sum(sum(images.class_counts(c, cfg).values()) for c in CLASSES if c.name in what)
    if kind == "speech":
        return len(what.items)
    return noise.expected_count(cfg)
