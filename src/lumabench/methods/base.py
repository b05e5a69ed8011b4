"""The method contract (DESIGN §4) and the training loop every method shares.

A method owns one `torch.nn.Module` and defines three things: its training loss, its validation
loss and `predict(batch) -> Prediction`. The loop here does the rest the same way for all: Adam,
ReduceLROnPlateau on the validation loss, early stopping with the best checkpoint kept, seeded data
order, mixed precision on CUDA only. Ensembles train as `streams` independent members in one
forward: each member has its own data order, loss and early-stopping checkpoint. A method that takes
several optimiser steps per batch (e.g. MLA's alternating unimodal steps) overrides `substeps`
instead of writing its own loop, so every method keeps the same schedule, early stopping and checks.
Modality-augmented self-distillation (`distill` in a fused method's spec; `distillation`) is an
option of this loop too: a method only says which logits its fusion gives (`distill_logits`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from lumabench.data import Batch, Normaliser, SplitTensors
from lumabench.determinism import bf16_autocast, cpu_bf16_is_fast
from lumabench.errors import TrainingError
from lumabench.logs import progress
from lumabench.methods.cuda_graph import GraphedStep
from lumabench.methods.losses import distillation_kl
from lumabench.modality_sets import random_subset_mask, restrict_batch
from lumabench.models.encoders import MultiModalNet
from lumabench.params import Method as MethodSpec
from lumabench.params import Train
from lumabench.seeding import int_seed

log = logging.getLogger(__name__)
T = TypeVar("T")

# Rows x input elements one forward may hold while predicting. On CUDA it bounds memory; on CPU a
# chunk whose activations stay in cache is faster: 2**21 against 2**25 measured, prediction samples/s
# on 2 cores, MCD image 58 -> 109, MCD text 664 -> 822, DE fused 14.6 -> 27, RCML fused 277 -> 307.
EVAL_BUDGET_CPU = 2**21
EVAL_BUDGET_CUDA = 2**27


@dataclass
class Prediction:
    """What a method says about a batch; metrics see only this.

    probs [B, C] mean predictive; total = entropy of the mean, aleatoric = expected entropy,
    epistemic = total − aleatoric (mutual information), [B] in nats, one decomposition for every
    method (DESIGN §5b). per_modality holds the same for each modality of a fused model ({} otherwise
    or when the heads are not trained on their own). extras: further per-row [B] quantities a method
    defines (e.g. RCML's vacuity K/S), written as extra columns and metrics, never substitutes.
    """

    probs: torch.Tensor
    aleatoric: torch.Tensor
    epistemic: torch.Tensor
    total: torch.Tensor
    per_modality: dict[str, Prediction] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def cat(cls, parts: list[Prediction]) -> Prediction:
        """Concatenate batch predictions along the sample axis."""
        mods = parts[0].per_modality.keys()
        keys = parts[0].extras.keys()
        return cls(
            torch.cat([p.probs for p in parts]),
            torch.cat([p.aleatoric for p in parts]),
            torch.cat([p.epistemic for p in parts]),
            torch.cat([p.total for p in parts]),
            {m: cls.cat([p.per_modality[m] for p in parts]) for m in mods},
            {k: torch.cat([p.extras[k] for p in parts]) for k in keys},
        )

    def cpu(self) -> Prediction:
        return Prediction(
            self.probs.float().cpu(),
            self.aleatoric.float().cpu(),
            self.epistemic.float().cpu(),
            self.total.float().cpu(),
            {m: p.cpu() for m, p in self.per_modality.items()},
            {k: v.float().cpu() for k, v in self.extras.items()},
        )


@dataclass
class FitReport:
    """How training went (written to the metrics JSON)."""

    seconds: float
    epochs: int
    best_epoch: int
    best_val_loss: float


@dataclass
class SubStep:
    """One optimiser step inside a batch, yielded by `Method.substeps`.

    `Method.train_step` runs, for each: zero the gradients, backward `loss.sum()`, drop the
    gradients of every parameter outside `params` (when given, so only those move), call
    `edit_grads` (when given: e.g. project a gradient), then the optimiser step. Code after the
    `yield` in `substeps` runs after that step, so the next sub-step's forward sees the new weights.
    """

    loss: torch.Tensor  # [streams]
    params: Iterable[nn.Parameter] | None = None
    edit_grads: Callable[[], None] | None = None


class Method(ABC):
    """Base of every method: subclasses build the module and define losses and prediction."""

    kind: ClassVar[str]
    #: independent members trained side by side (leading dim of every parameter when > 1)
    streams: int = 1
    #: whether the training step may be captured as a CUDA graph (`train.cuda_graphs`); a method whose
    #: step synchronises with the host or changes shape from batch to batch sets False and trains eagerly
    cuda_graphs_supported: ClassVar[bool] = True

    def __init__(
        self,
        spec: MethodSpec,
        cfg: Train,
        n_classes: int,
        text_dim: int,
        device: torch.device,
        seed: int,
        key: tuple[str, ...],
    ) -> None:
        self.spec = spec
        self.cfg = cfg
        self.n_classes = n_classes
        self.text_dim = text_dim
        self.device = device
        self.seed = seed
        self.key = key
        self.modalities = list(spec.modalities)
        self.normaliser: Normaliser | None = None
        self.audio_shape = (cfg.n_mels, cfg.frames)
        self._eval_rows = 0  # prediction chunk that fitted in memory (0 = not yet known)
        self.graphed: GraphedStep | None = None
        with self.seeded("init"):
            self.module = self.build().to(device)
        if device.type == "cpu" and cfg.amp_cpu and not cpu_bf16_is_fast():
            log.warning("train.amp_cpu: this CPU has no bfloat16 instructions, so bfloat16 is emulated and slower")

    # ------------------------------------------------------------ to implement
    @abstractmethod
    def build(self) -> nn.Module:
        """The trainable module (called once, under the method's init seed)."""

    @abstractmethod
    def loss(self, batch: Batch, epoch: int) -> torch.Tensor:
        """Training loss per stream, shape [streams]; `epoch` counts from 1."""

    @abstractmethod
    def val_loss(self, batch: Batch) -> torch.Tensor:
        """Validation loss summed over the batch's rows, per stream [streams] (eval mode)."""

    @abstractmethod
    def predict(self, batch: Batch) -> Prediction:
        """Predictive distribution and uncertainties for one batch (inputs [B, ...])."""

    #: forward passes per input row at prediction time (sizes prediction chunks)
    def encoder_net(self, sigma: bool) -> nn.Module:
        """The LUMA encoders of this method's modalities (`models.encoders.MultiModalNet`) at the
        run's audio shape and CNN width; `sigma` adds the heteroscedastic σ heads."""
        return MultiModalNet(
            self.modalities, self.n_classes, self.spec.dropout, self.text_dim, sigma, self.audio_shape,
            self.cfg.conv_width,
        )  # fmt: skip

    def repeats(self) -> int:
        return 1

    def substeps(self, batch: Batch, epoch: int, progress: float) -> Iterator[SubStep]:
        """The optimiser steps of one training batch; default: one step on `loss(batch, epoch)`.

        Override to take several steps per batch (each `SubStep` is one zero-grad / backward /
        optimiser step; see `SubStep`). Forwards run under `autocast()`. `progress` in [0, 1) is the
        batch's position in its epoch (index / batches per epoch); it advances only on eager steps,
        so a method that reads it sets `cuda_graphs_supported = False`. With `distill` in the
        method's spec the step's loss also holds the self-distillation term (`distillation`).
        """
        loss = self.loss(batch, epoch)
        if self.spec.distill is not None:
            loss = loss + self.distillation(batch)
        yield SubStep(loss)

    def distill_logits(self, batch: Batch) -> torch.Tensor:
        """Logits of the fused prediction in a training forward, differentiable, [streams, B, C].

        What self-distillation compares between the full input and a modality subset (a method that
        supports `distill` defines it; absent modalities of `batch.mask` are left out of the fusion).
        """
        raise TrainingError(
            f"method kind {self.kind!r} has no fused logits for self-distillation",
            fix=f"remove `distill` from the {'/'.join(self.key)} entry of params.yaml `methods`",
        )

    def distillation(self, batch: Batch, subset: torch.Tensor | None = None) -> torch.Tensor:
        """λ · mean over rows of KL(stop-grad softmax(f(x_A)/T) ‖ softmax(f(x_S)/T)), per stream [streams].

        Modality-augmented self-distillation (McKinzie et al., ICML 2023): the teacher is the model's
        own prediction on the row's modalities A (no gradient), the student its prediction on a random
        non-empty subset S (`subset`, [..., V] like `batch.mask`; drawn per row when None), with the
        modalities outside S absent. Both forwards draw the same dropout masks (the generator is
        replayed), so the term measures only what leaving modalities out changes: it is exactly 0
        when S = A.
        """
        d = self.spec.distill
        if d is None:
            raise TrainingError(f"{'/'.join(self.key)}: distillation asked of a method without `distill`")
        if subset is None:
            subset = random_subset_mask(batch.mask)
        with self._replayed_rng(), torch.no_grad():
            teacher = self.distill_logits(batch)
        student = self.distill_logits(restrict_batch(batch, subset))
        return d.weight * distillation_kl(teacher, student, d.temperature).mean(-1)

    @contextlib.contextmanager
    def _replayed_rng(self) -> Iterator[None]:
        """Run a block, then put the generators back where they were before it (the next block
        draws the same numbers)."""
        cuda = self.device.type == "cuda"
        cpu_state = torch.get_rng_state()
        cuda_state = torch.cuda.get_rng_state(self.device) if cuda else None
        yield
        torch.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, self.device)

    def step_key(self, epoch: int) -> Hashable:
        """What `loss(batch, epoch)` takes from `epoch` as a Python value; a captured CUDA-graph step
        is captured again when it changes. None: the loss does not depend on the epoch."""
        return None

    # ------------------------------------------------------------ shared machinery
    @contextlib.contextmanager
    def seeded(self, purpose: str) -> Iterator[None]:
        """Run a block with the global torch RNG (dropout, noise) seeded for (method, purpose), restored after."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int_seed(self.seed, "train", *self.key, purpose))
            yield

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bfloat16 autocast on CUDA when `train.amp`; on CPU full precision unless `train.amp_cpu`."""
        return bf16_autocast(self.device, cuda=self.cfg.amp, cpu=self.cfg.amp_cpu)

    def _batches(self, split: SplitTensors, size: int) -> Iterator[Batch]:
        assert self.normaliser is not None
        for s in range(0, len(split), size):
            idx = torch.arange(s, min(s + size, len(split)), device=self.device)
            yield self.normaliser.batch(split, idx, self.modalities)

    def eval_batch_size(self) -> int:
        """Rows per prediction chunk so that repeats x rows x input size stays within the budget."""
        per_row = 0
        for m in self.modalities:
            per_row += {"image": 3 * 32 * 32, "audio": self.cfg.n_mels * self.cfg.frames, "text": self.text_dim}[m]
        budget = EVAL_BUDGET_CUDA if self.device.type == "cuda" else EVAL_BUDGET_CPU
        return max(1, min(4096, budget // (per_row * self.repeats() * max(1, self.streams))))

    def _snapshot(self, best: dict[str, torch.Tensor] | None, members: list[int]) -> dict[str, torch.Tensor]:
        state = self.module.state_dict()
        if best is None or self.streams == 1:
            return {k: v.detach().clone() for k, v in state.items()}
        for k, v in state.items():
            for m in members:
                best[k][m].copy_(v[m])
        return best

    def _check_finite(self, losses: list[float], epoch: int, stream: str) -> None:
        """Raise `TrainingError` when a loss diverged: keeping the last good weights would hide it."""
        bad = [i for i, x in enumerate(losses) if not math.isfinite(x)]
        if not bad:
            return
        where = f" (ensemble member {', '.join(map(str, bad))})" if self.streams > 1 else ""
        raise TrainingError(
            f"training {'/'.join(self.key)}: non-finite {stream} loss ({losses[bad[0]]}) at epoch {epoch}{where}",
            fix="lower train.lr, check the input features for NaN",
        )

    def fit(self, train: SplitTensors, val: SplitTensors, normaliser: Normaliser) -> FitReport:
        """Train with early stopping on `val`; the module ends with its best-validation weights.

        A non-finite training or validation loss stops training with `TrainingError`. The training
        loss is summed on the device during the epoch and read once per epoch (no sync per step).
        """
        self.normaliser = normaliser
        cfg = self.cfg
        start = time.perf_counter()
        opt = self.make_optimizer()
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
        loss_sum = torch.zeros(self.streams, dtype=torch.float32, device=self.device)
        step = self.train_step(opt, train, normaliser, loss_sum)
        order = torch.Generator().manual_seed(int_seed(self.seed, "train", *self.key, "order"))
        n, m = len(train), self.streams
        best_loss = [math.inf] * m
        best_epoch = [0] * m
        best_state: dict[str, torch.Tensor] | None = None
        epochs_run = 0
        bar = progress(range(1, cfg.max_epochs + 1), f"train {'/'.join(self.key)}", unit="epoch")
        with self.seeded("fit"):
            for epoch in bar:
                self.module.train()
                perms = torch.stack([torch.randperm(n, generator=order) for _ in range(m)]).to(self.device)
                for s in range(0, n, cfg.batch_size):
                    idx = perms[:, s : s + cfg.batch_size]
                    step(idx[0] if m == 1 else idx, epoch)
                self._check_finite([float(x) for x in loss_sum.cpu()], epoch, "training")
                loss_sum.zero_()
                vl = self.validation(val)
                self._check_finite(vl, epoch, "validation")
                sched.step(float(np.mean(vl)))
                improved = [i for i in range(m) if vl[i] < best_loss[i]]
                for i in improved:
                    best_loss[i], best_epoch[i] = vl[i], epoch
                if improved:
                    best_state = self._snapshot(best_state, improved)
                epochs_run = epoch
                if all(epoch - be >= cfg.early_stopping_patience for be in best_epoch):
                    break
        if self.graphed is not None:
            self.graphed.close()  # the graph's memory is not needed for prediction
        opt.zero_grad(set_to_none=True)
        if best_state is not None:
            self.module.load_state_dict(best_state)
        return FitReport(
            seconds=time.perf_counter() - start,
            epochs=epochs_run,
            best_epoch=max(best_epoch),
            best_val_loss=float(np.mean(best_loss)),
        )

    def make_optimizer(self) -> torch.optim.Adam:
        """Adam; on CUDA fused (one kernel for every parameter), and graph-capturable when asked."""
        cfg, cuda = self.cfg, self.device.type == "cuda"
        if cuda and cfg.cuda_graphs:  # a tensor lr: ReduceLROnPlateau writes it in place, the graph reads it
            lr = torch.tensor(cfg.lr, dtype=torch.float32, device=self.device)
            return torch.optim.Adam(
                self.module.parameters(), lr=lr, weight_decay=cfg.weight_decay, fused=True, capturable=True
            )
        return torch.optim.Adam(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=cuda)

    def train_step(
        self,
        opt: torch.optim.Optimizer,
        train: SplitTensors,
        normaliser: Normaliser,
        loss_sum: torch.Tensor | None = None,
    ) -> Callable[[torch.Tensor, int], None]:
        """`step(idx, epoch)`: the optimiser step(s) of `substeps` on rows `idx` ([B], or [streams, B]).

        `loss_sum` [streams], when given, accumulates each step's loss in place on the device (it is
        read once per epoch; in place, so a captured CUDA graph keeps adding to the same buffer); a
        batch of several sub-steps adds each sub-step's loss. With `train.cuda_graphs` on CUDA the
        step is captured once and replayed (`methods.cuda_graph`), unless the method does not support
        it (`cuda_graphs_supported`): it then trains eagerly, with a warning.
        """
        per_epoch = max(1, math.ceil(len(train) / self.cfg.batch_size))
        clock = {"epoch": -1, "batch": 0}  # batch index inside the epoch, for `progress`

        def eager(idx: torch.Tensor, epoch: int) -> None:
            if epoch != clock["epoch"]:
                clock["epoch"], clock["batch"] = epoch, 0
            progress = (clock["batch"] % per_epoch) / per_epoch
            clock["batch"] += 1
            batch = normaliser.batch(train, idx, self.modalities)
            steps = self.substeps(batch, epoch, progress)
            while True:
                with self.autocast():
                    sub = next(steps, None)
                if sub is None:
                    break
                opt.zero_grad(set_to_none=True)
                sub.loss.sum().backward()
                if sub.params is not None:
                    keep = {id(p) for p in sub.params}
                    for p in self.module.parameters():
                        if id(p) not in keep:
                            p.grad = None  # the optimiser skips parameters without a gradient
                if sub.edit_grads is not None:
                    sub.edit_grads()
                opt.step()
                if loss_sum is not None:
                    loss_sum.add_(sub.loss.detach().float())

        if self.device.type != "cuda" or not self.cfg.cuda_graphs:
            return eager
        if not self.cuda_graphs_supported:
            log.warning("%s: train.cuda_graphs is not supported by method kind %r; training runs eagerly",
                        "/".join(self.key), self.kind)  # fmt: skip
            return eager
        if self.spec.distill is not None:  # it replays the generator state, which a graph cannot capture
            log.warning("%s: train.cuda_graphs is not supported with `distill`; training runs eagerly",
                        "/".join(self.key))  # fmt: skip
            return eager
        graphed = GraphedStep(eager, opt)
        self.graphed = graphed  # replay and capture counts, for tests and benchmarks
        return lambda idx, epoch: graphed(idx, epoch, self.step_key(epoch))

    def _chunked(self, split: SplitTensors, purpose: str, fn: Callable[[Batch], T]) -> list[T]:
        """`fn` over the split in row chunks, seeded per `purpose`; on CUDA out-of-memory, halve and redo.

        The chunk size starts from `eval_batch_size()` (a budget on input elements); activations of
        the convolutional encoders are many times their input, so a smaller GPU may not hold a chunk.
        A smaller chunk is then kept for the rest of the run. The retry starts the split again under
        the same seed, so the result depends only on the chunk size that fitted.
        """
        size = self._eval_rows or self.eval_batch_size()
        while True:
            try:
                with self.seeded(purpose):
                    out = [fn(batch) for batch in self._batches(split, size)]
                self._eval_rows = size
                return out
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                torch.cuda.empty_cache()
                log.warning("%s: CUDA out of memory while predicting; retrying with %d rows per chunk", purpose, size)

    @torch.no_grad()
    def validation(self, val: SplitTensors) -> list[float]:
        """Mean validation loss per stream (same noise draws every epoch, so epochs compare fairly)."""
        self.module.eval()

        def loss(batch: Batch) -> torch.Tensor:
            with self.autocast():
                return self.val_loss(batch).double()

        total = torch.zeros(self.streams, dtype=torch.float64, device=self.device)
        for part in self._chunked(val, "validation", loss):
            total += part  # in chunk order, as a running sum
        return [float(x) / max(1, len(val)) for x in total.cpu()]

    @torch.no_grad()
    def predict_split(self, split: SplitTensors, purpose: str) -> Prediction:
        """Predictions for every row of a split, chunked to bound memory, seeded per `purpose`."""
        assert self.normaliser is not None, "fit() or load() first"
        self.module.eval()

        def predict(batch: Batch) -> Prediction:
            with self.autocast():
                return self.predict(batch).cpu()

        return Prediction.cat(self._chunked(split, f"predict/{purpose}", predict))

    def checkpoint(self) -> dict[str, object]:
        """Everything needed to predict again: weights, input scaling, spec."""
        assert self.normaliser is not None
        return {
            "kind": self.kind,
            "spec": self.spec.model_dump(mode="json"),
            "n_classes": self.n_classes,
            "text_dim": self.text_dim,
            "normaliser": self.normaliser.as_dict(),
            "state_dict": copy.deepcopy({k: v.cpu() for k, v in self.module.state_dict().items()}),
        }

    def load(self, ckpt: dict[str, object]) -> None:
        """Restore weights and input scaling from `checkpoint()`'s output."""
        self.normaliser = Normaliser(**ckpt["normaliser"])  # type: ignore[arg-type]
        self.module.load_state_dict(ckpt["state_dict"])  # type: ignore[arg-type]
