"""Fine-tuning the ImageNet ResNet-18 on the training images before it embeds them (full profile).

Why: ImageNet features of 32×32 images upsampled to the network's input size place many of the 42
classes on top of each other, while diversity sampling and nearest-class label switching
(LUMA-SPEC §3, §5) need a space where same-class images are close. The LUMA image features come
from an ImageNet CNN fine-tuned on the training images, so the network (He et al., "Deep Residual
Learning for Image Recognition", CVPR 2016) gets a 42-way head and a few epochs of SGD with the
usual CIFAR augmentation (random crop from a 4-pixel padded image and a horizontal flip, He et al.
2016 §4.2), then every image (train, test and OOD pools) is embedded with its penultimate layer.

Only rows whose pool is "train" and whose class is in-distribution reach `finetune()`; the caller
passes those rows alone (`training_rows`), so test-pool and OOD images, whose features later pick
the test split and score the OOD detection, never shape the network.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lumabench import classes
from lumabench.determinism import bf16_autocast
from lumabench.errors import InputError
from lumabench.logs import progress
from lumabench.seeding import int_seed

log = logging.getLogger(__name__)

STAGE = "features"
DIM = 512  # ResNet-18 penultimate width
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MOMENTUM = 0.9  # SGD with Nesterov momentum, weight decay and a cosine decay to 0 over all steps
WEIGHT_DECAY = 5e-4
PAD_FRACTION = 8  # crop padding = image side / 8 (4 px on 32×32 CIFAR images)


def training_rows(df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the accepted image rows the network may learn from: train pool, in-distribution."""
    return ((df["pool"] == "train") & (df["class_id"] < classes.N_ID)).to_numpy(dtype=bool)


def _to_device(images: np.ndarray, rows: np.ndarray | slice, device: torch.device) -> torch.Tensor:
    """uint8 [N, H, W, 3] rows → float [B, 3, H, W] in [0, 1] on `device`."""
    x = torch.from_numpy(np.ascontiguousarray(images[rows])).to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop from a reflect-padded image and a horizontal flip, per image, drawn from `gen` (CPU)."""
    b, _, h, w = x.shape
    pad = max(1, h // PAD_FRACTION)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect").permute(0, 2, 3, 1)  # [B, H+2p, W+2p, C]
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    rows = oy[:, None] + torch.arange(h)
    cols = ox[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b)[:, None, None]
    idx = [t.to(x.device) for t in (batch, rows[:, :, None], cols[:, None, :])]
    return padded[idx[0], idx[1], idx[2]].permute(0, 3, 1, 2)


def _imagenet_scale(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std [1, 3, 1, 1] on `device` (made once per run, not per batch)."""
    return (
        torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
        torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1),
    )


def _prepare(x: torch.Tensor, size: int, scale: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Resize to the network input (bilinear) and apply the ImageNet normalisation `scale` (mean, std)."""
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = (x - scale[0]) / scale[1]
    # NHWC suits cuDNN's tensor-core kernels; CPU keeps the default layout
    return x.contiguous(memory_format=torch.channels_last if x.is_cuda else torch.contiguous_format)


def new_head(seed: int) -> torch.nn.Linear:
    """A 512→42 linear classifier, PyTorch's default uniform init drawn from a seeded generator."""
    gen = torch.Generator().manual_seed(int_seed(seed, STAGE, "finetune", "head"))
    bound = 1.0 / math.sqrt(DIM)
    head = torch.nn.Linear(DIM, classes.N_ID, device="meta")
    head.weight = torch.nn.Parameter((torch.rand(classes.N_ID, DIM, generator=gen) * 2 - 1) * bound)
    head.bias = torch.nn.Parameter((torch.rand(classes.N_ID, generator=gen) * 2 - 1) * bound)
    return head


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Full batches in `order`; a last partial batch is kept only with ≥ 2 images (batch norm needs 2)."""
    out = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    return [b for b in out if len(b) >= 2]


def finetune(
    net: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    device: str,
    epochs: int,
    lr: float,
    batch_size: int,
    size: int,
    seed: int,
) -> list[float]:
    """Train `net` (its fc replaced by a 42-way head) on these images; returns train accuracy per epoch.

    `images` uint8 [N, H, W, 3] and `labels` in-distribution class ids [N] are the training rows
    only. Batch order and augmentation come from a torch.Generator seeded by `seeding.int_seed`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if epochs <= 0:
        return []
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) < 2:
        raise InputError(
            f"{len(images)} in-distribution train-pool images: too few to fine-tune the ImageNet CNN",
            fix="check the accepted image table, or set features.finetune_epochs: 0",
        )
    if labels.min() < 0 or labels.max() >= classes.N_ID:
        raise ValueError(f"fine-tuning labels must be in-distribution class ids 0..{classes.N_ID - 1}")
    dev = torch.device(device)
    net.fc = new_head(seed)
    net.to(dev)
    if dev.type == "cuda":
        net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)
    steps = epochs * len(_batches(np.arange(len(images)), batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, steps) / steps)))
    gen = torch.Generator().manual_seed(int_seed(seed, STAGE, "finetune", "data"))
    y_all = torch.from_numpy(labels)
    scale = _imagenet_scale(dev)
    history = []
    for epoch in range(epochs):
        batches = _batches(torch.randperm(len(images), generator=gen).numpy(), batch_size)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        seen = 0
        desc = f"fine-tune ResNet-18, epoch {epoch + 1}/{epochs}"
        for rows in progress(batches, desc, total=len(batches), unit="batch"):
            x = _prepare(augment(_to_device(images, rows, dev), gen), size, scale)
            y = y_all[rows].to(dev, non_blocking=True)
            with bf16_autocast(dev):  # CUDA only: CPU embeddings stay float32, bit-identical on rerun
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += (logits.argmax(1) == y).sum()
            loss_sum += loss.detach().double() * len(rows)
            seen += len(rows)
        acc = correct.item() / seen
        history.append(acc)
        log.info(
            "fine-tune epoch %d/%d: loss %.4f, train accuracy %.3f (%d images)",
            epoch + 1,
            epochs,
            loss_sum.item() / seen,
            acc,
            seen,
        )
    return history


def embed(net: torch.nn.Module, images: np.ndarray, *, device: str, batch_size: int, size: int) -> np.ndarray:
    """Penultimate-layer features [N, 512] float32 of uint8 [N, H, W, 3] images, network in eval mode.

    Always float32 (one forward per image is cheap): bf16 would round the distances that diversity
    sampling and label switching rank.
    """
    dev = torch.device(device)
    net.fc = torch.nn.Identity()
    net.to(dev).eval()
    if dev.type == "cuda":
        net.to(memory_format=torch.channels_last)
    scale = _imagenet_scale(dev)
    out = []
    starts = range(0, len(images), batch_size)
    with torch.inference_mode():
        for s in progress(starts, "embed images (ResNet-18)", total=len(starts), unit="batch"):
            x = _prepare(_to_device(images, slice(s, s + batch_size), dev), size, scale)
            out.append(net(x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIM), np.float32)
