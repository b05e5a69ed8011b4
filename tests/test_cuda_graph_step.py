"""The CUDA-graph step's bookkeeping, with a stand-in graph that replays the step function on CPU.

The stand-in records the step during capture without counting it as run, and replay runs it again
on the static index buffer, which is what a CUDA graph does with its captured kernels. What is
checked: every batch runs exactly once and with its own rows, in order; warm-up steps, the short
last batch and a failed capture run eagerly; a new step key captures again. The real capture is
exercised on a GPU by tests/test_cuda.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch

from lumabench.methods import cuda_graph
from lumabench.methods.cuda_graph import GraphedStep


class _Recorder:
    def __init__(self, fail_capture: bool = False) -> None:
        self.capturing = False
        self.fail_capture = fail_capture
        self.ran: list[tuple[list[int], int, str]] = []
        self.stream = "main"

    def step(self, idx: torch.Tensor, epoch: int) -> None:
        if self.capturing:
            if self.fail_capture:
                raise RuntimeError("operation not permitted when stream is capturing")
            self.captured = (idx, epoch)  # the static buffer, read again at each replay
            return
        self.ran.append((idx.tolist(), epoch, self.stream))


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    rec = _Recorder()

    class Graph:
        def replay(self) -> None:
            idx, epoch = rec.captured
            rec.ran.append((idx.tolist(), epoch, "graph"))

    @contextlib.contextmanager
    def graph(g: Graph) -> Iterator[None]:
        rec.capturing = True
        try:
            yield
        finally:
            rec.capturing = False

    @contextlib.contextmanager
    def stream(s: object) -> Iterator[None]:
        rec.stream = "side"
        try:
            yield
        finally:
            rec.stream = "main"

    class Stream:
        def __init__(self, device: object = None) -> None:
            pass

        def wait_stream(self, other: object) -> None:
            pass

    monkeypatch.setattr(cuda_graph.torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(cuda_graph.torch.cuda, "graph", graph)
    monkeypatch.setattr(cuda_graph.torch.cuda, "stream", stream)
    monkeypatch.setattr(cuda_graph.torch.cuda, "Stream", Stream)
    monkeypatch.setattr(cuda_graph.torch.cuda, "current_stream", lambda device=None: Stream())
    yield rec


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def test_every_batch_runs_once_with_its_rows(fake_cuda: _Recorder) -> None:
    g = GraphedStep(fake_cuda.step, _opt(), warmup=2)
    batches = [torch.arange(3) + 10 * i for i in range(6)] + [torch.tensor([99])]  # short last batch
    for b in batches:
        g(b, 1)
    assert [r[0] for r in fake_cuda.ran] == [b.tolist() for b in batches]
    assert [r[2] for r in fake_cuda.ran] == ["side", "side", "graph", "graph", "graph", "graph", "main"]
    assert (g.warm_steps, g.captures, g.replays, g.eager_steps) == (2, 1, 4, 1)
    g.close()  # after fit: nothing captured is kept, and a later use warms up and captures afresh
    assert g._graph is None and g._idx is None
    g(torch.tensor([7, 8, 9]), 2)
    assert fake_cuda.ran[-1] == ([7, 8, 9], 2, "side")


def test_a_new_key_captures_again(fake_cuda: _Recorder) -> None:
    g = GraphedStep(fake_cuda.step, _opt(), warmup=1)
    for epoch in (1, 1, 2, 2, 3):
        g(torch.tensor([epoch, epoch]), epoch, key=min(1.0, epoch / 2))
    assert g.captures == 2  # keys 0.5 (epoch 1) and 1.0 (epochs 2 and 3)
    ran = [(r[1], r[2]) for r in fake_cuda.ran]
    # epoch 3 replays the step captured in epoch 2: the same key, so the same loss
    assert ran == [(1, "side"), (1, "graph"), (2, "graph"), (2, "graph"), (2, "graph")]


def test_a_failed_capture_goes_on_eagerly(fake_cuda: _Recorder, caplog: pytest.LogCaptureFixture) -> None:
    fake_cuda.fail_capture = True
    g = GraphedStep(fake_cuda.step, _opt(), warmup=1)
    for i in range(4):
        g(torch.tensor([i]), 1)
    assert g.failed and g.captures == 0 and g.replays == 0
    assert [r[0] for r in fake_cuda.ran] == [[0], [1], [2], [3]]
    assert [r[2] for r in fake_cuda.ran] == ["side", "main", "main", "main"]
    assert "CUDA graph capture failed" in caplog.text
