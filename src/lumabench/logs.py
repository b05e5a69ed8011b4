"""Logging and progress bars, set up once by the CLI."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("lumabench")


def setup_logging(debug: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG with --debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("lumabench")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    """A tqdm bar on stderr; LUMABENCH_PROGRESS=0 turns bars off (e.g. in CI logs)."""
    disable = os.environ.get("LUMABENCH_PROGRESS", "1") == "0"
    return tqdm(items, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True, mininterval=0.5)
