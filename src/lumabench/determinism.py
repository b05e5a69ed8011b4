"""Deterministic torch kernels and CUDA-only mixed precision for training, fine-tuning and embedding.

One helper for every stage that trains or embeds with torch, so that a CPU rerun is byte-identical
and the process-wide setting is restored afterwards (tests and notebooks run several stages in one
process). `warn_only`: an operation with no deterministic kernel (some CUDA backward passes) warns
instead of failing; GPU results are therefore close, not bit-identical, across runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic algorithms on (cuBLAS workspace pinned) inside the block; the previous setting after."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    _set(True, warn_only=True)
    try:
        yield
    finally:
        _set(before, warn_only=warn)


def _set(mode: bool, warn_only: bool) -> None:
    """`torch.use_deterministic_algorithms`, without importing the graph compiler when nothing uses it.

    The public call also sets the compiler's own flag (`torch._inductor.config.deterministic`) and so
    imports torch._inductor and torch._dynamo: 1.6 s of every training process on a 2-core machine,
    and nothing here compiles. Where the compiler is already loaded, the public call sets both flags.
    """
    import torch

    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def bf16_autocast(
    device: torch.device, cuda: bool = True, cpu: bool = False
) -> contextlib.AbstractContextManager[None]:
    """bfloat16 autocast on CUDA when `cuda`, on CPU when `cpu`; otherwise full precision.

    On a CPU with bfloat16 instructions (avx512_bf16, AMX) oneDNN runs convolutions and matmuls
    faster in bfloat16; results are then deterministic but no longer equal to float32 ones, which
    is why CPU autocast is opt-in. The cast-weight cache is off: every weight is used once per
    forward here, and a cache is not allowed inside a captured CUDA graph (`methods.cuda_graph`).
    """
    import torch

    if (device.type == "cuda" and cuda) or (device.type == "cpu" and cpu):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def cpu_bf16_is_fast() -> bool:
    """Whether this CPU has bfloat16 instructions oneDNN uses (else bfloat16 is emulated, and slower)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
