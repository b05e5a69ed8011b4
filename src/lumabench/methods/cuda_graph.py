"""A training step captured once as a CUDA graph and replayed, to take the per-kernel launch cost off the GPU.

The baseline models are small: at batch 128 a step is a few hundred short kernels, and the host's
time to launch them, not the GPU's arithmetic, sets the pace. A CUDA graph launches the whole step
(row gather, forward, loss, backward, Adam) with one call. What the step needs for that holds in
`Method.fit`: no host synchronisation inside a step, one input buffer (the row indices) copied in
before each replay, fused Adam with `capturable=True` and a tensor learning rate (so
ReduceLROnPlateau's changes reach the graph), autocast without its weight cache.

Rules kept here, after the PyTorch CUDA-graph notes:
- the first `warmup` steps run eagerly on a side stream (lazy initialisation: cuBLAS handles, Adam
  state) before the capture;
- capture records without running, so the captured batch is replayed right after its capture;
- a step whose shape differs from the captured one (the last, shorter batch of an epoch) runs eagerly;
- a step whose Python-level constants differ (`key`: e.g. RCML's KL annealing weight) is captured
  again; the old graph is dropped first;
- a capture that fails (an operation that synchronises or cannot be recorded) is logged once and
  the run goes on eagerly: the graph is a speed-up, never a requirement.
Random draws (dropout, noise) inside a graph come from the default CUDA generator, which advances
its offset on every replay, so each replay draws fresh numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

import torch

log = logging.getLogger(__name__)

Step = Callable[[torch.Tensor, int], None]


class GraphedStep:
    """Call like the eager step `step(idx, epoch)`; full-size steps replay one captured graph."""

    def __init__(self, step: Step, optimizer: torch.optim.Optimizer, warmup: int = 3) -> None:
        self.step = step
        self.optimizer = optimizer
        self.warmup = warmup
        self.eager_steps = 0
        self.warm_steps = 0
        self.replays = 0
        self.captures = 0
        self.failed = False
        self._graph: torch.cuda.CUDAGraph | None = None
        self._idx: torch.Tensor | None = None
        self._key: Hashable = None
        self._shape: tuple[int, ...] | None = None

    def __call__(self, idx: torch.Tensor, epoch: int, key: Hashable = None) -> None:
        if self.failed:
            self.eager_steps += 1
            self.step(idx, epoch)
            return
        shape = tuple(idx.shape)
        if self._shape is None:
            self._shape = shape  # the first (full) batch fixes the captured shape
        if shape != self._shape:
            self.eager_steps += 1
            self.step(idx, epoch)
            return
        if self.warm_steps < self.warmup:
            self._side_stream_step(idx, epoch)
            return
        if self._graph is None or key != self._key:
            try:
                self._capture(idx, epoch, key)
            except RuntimeError as exc:  # an operation that cannot be captured: train on, eagerly
                log.warning("CUDA graph capture failed (%s); training continues without graphs", str(exc)[:200])
                self.failed, self._graph = True, None
                self.optimizer.zero_grad(set_to_none=True)
                self(idx, epoch, key)
                return
        else:
            assert self._idx is not None
            self._idx.copy_(idx)
        assert self._graph is not None
        self._graph.replay()
        self.replays += 1

    def close(self) -> None:
        """Drop the captured graph and its input buffer (their memory returns once gradients are dropped)."""
        self._graph, self._idx, self._shape = None, None, None
        self.warm_steps = 0

    def _side_stream_step(self, idx: torch.Tensor, epoch: int) -> None:
        side = torch.cuda.Stream(device=idx.device)
        side.wait_stream(torch.cuda.current_stream(idx.device))
        with torch.cuda.stream(side):
            self.step(idx, epoch)
        torch.cuda.current_stream(idx.device).wait_stream(side)
        self.warm_steps += 1

    def _capture(self, idx: torch.Tensor, epoch: int, key: Hashable) -> None:
        self._graph = None  # release the previous graph's memory pool before the new capture
        if self._idx is None:
            self._idx = idx.clone()
        else:
            self._idx.copy_(idx)
        self.optimizer.zero_grad(set_to_none=True)  # gradients are allocated inside the graph's pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.step(self._idx, epoch)
        self._graph, self._key = graph, key
        self.captures += 1
        log.debug("captured the training step as a CUDA graph (epoch %d, key %r)", epoch, key)
