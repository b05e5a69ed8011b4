"""Deterministic torch kernels for a block of work (training, fine-tuning, embedding).

One helper for every stage that trains or embeds with torch, so that a CPU rerun is byte-identical
and the process-wide setting is restored afterwards (tests and notebooks run several stages in one
process). `warn_only`: an operation with no deterministic kernel (some CUDA backward passes) warns
instead of failing; GPU results are therefore close, not bit-identical, across runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic algorithms on (cuBLAS workspace pinned) inside the block; the previous setting after."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)
