"""The LUMA baseline encoders (LUMA-SPEC §7), each with a class head and an optional σ head.

Max-pooling runs before the ReLU: relu(maxpool(x)) = maxpool(relu(x)) exactly (ReLU is monotone),
and the ReLU then touches a quarter of the elements (measured: a large share of a CPU step is these
memory-bound passes over the first convolution's output).

Every encoder is split into a deterministic `stem` (everything before the first dropout) and a
stochastic `body`. MC Dropout runs the stem once per input and repeats only its output for the
dropout samples: the outputs are the same as repeating the input, at a fraction of the cost.

The σ head gives the per-class standard deviation of the logits for the heteroscedastic loss
(Kendall & Gal, NeurIPS 2017): σ = softplus(W h + b), used as a standard deviation both in the
loss and in the uncertainty (the reference tool exponentiates it in one place; LUMA-SPEC §8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumabench.models.dropout import Dropout

IMAGE_SHAPE = (3, 32, 32)
AUDIO_SHAPE = (1, 128, 128)


class Encoder(nn.Module):
    """stem -> (repeat) -> body -> class logits [N, C] and σ [N, C] (or None without a σ head)."""

    def __init__(self, stem: nn.Module, body: nn.Module, features: int, n_classes: int, sigma: bool) -> None:
        super().__init__()
        self.stem = stem
        self.body = body
        self.head = nn.Linear(features, n_classes)
        self.sigma_head = nn.Linear(features, n_classes) if sigma else None

    def forward(self, x: torch.Tensor, repeat: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`repeat` > 1 gives `repeat` stacked copies (sample-major: row r*N + i is input i)."""
        if x.dim() == 4:  # NHWC convolutions: faster on CPU (oneDNN) and for bf16 on GPU
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)
        if repeat > 1:
            h = h.repeat(repeat, *([1] * (h.dim() - 1)))
        h = self.body(h)
        logits = self.head(h)
        sigma = F.softplus(self.sigma_head(h)) if self.sigma_head is not None else None
        return logits, sigma


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    """conv k×k, max-pool 2, ReLU (the pool first: see the module docstring)."""
    return [nn.Conv2d(cin, cout, k), nn.MaxPool2d(2), nn.ReLU()]


def channels(n: int, width: float) -> int:
    """`n` channels of the paper's architecture scaled by `width` (`train.conv_width`; 1 = the paper)."""
    return max(1, round(n * width))


def image_encoder(n_classes: int, dropout: float, sigma: bool = True, width: float = 1.0) -> Encoder:
    """conv 3→32 k3, ReLU, maxpool 2, dropout; conv 32→64 k3, ReLU, maxpool 2, dropout; flatten (2304).

    `width` scales the channel counts (32, 64 at 1.0).
    """
    c1, c2 = channels(32, width), channels(64, width)
    stem = nn.Sequential(*_conv(3, c1, 3))
    body = nn.Sequential(Dropout(dropout), *_conv(c1, c2, 3), Dropout(dropout), nn.Flatten())
    return Encoder(stem, body, c2 * 6 * 6, n_classes, sigma)


def _audio_side(n: int) -> int:
    for k in (5, 3, 3):
        n = (n - k + 1) // 2
    return n


def audio_encoder(
    n_classes: int, dropout: float, sigma: bool = True, shape: tuple[int, int] = (128, 128), width: float = 1.0
) -> Encoder:
    """conv 1→32 k5, 32→64 k3, 64→64 k3, each ReLU, maxpool 2, dropout; flatten (12544 for 128x128 input).

    `shape` = (n_mels, frames) of the log-mel input; smaller spectrograms give a smaller flatten.
    `width` scales the channel counts (32, 64, 64 at 1.0).
    """
    h, w = _audio_side(shape[0]), _audio_side(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"log-mel input {shape[0]}x{shape[1]} is too small for the audio encoder (min 22x22)")
    c1, c2 = channels(32, width), channels(64, width)
    stem = nn.Sequential(*_conv(1, c1, 5))
    body = nn.Sequential(
        *[Dropout(dropout), *_conv(c1, c2, 3)],
        *[Dropout(dropout), *_conv(c2, c2, 3)],
        *[Dropout(dropout), nn.Flatten()],
    )
    return Encoder(stem, body, c2 * h * w, n_classes, sigma)


def text_encoder(n_classes: int, dropout: float, in_dim: int, sigma: bool = True) -> Encoder:
    """in_dim (384 MiniLM / 768 BERT) → 512 → 256, each ReLU and dropout."""
    stem = nn.Sequential(nn.Linear(in_dim, 512), nn.ReLU())
    body = nn.Sequential(Dropout(dropout), nn.Linear(512, 256), nn.ReLU(), Dropout(dropout))
    return Encoder(stem, body, 256, n_classes, sigma)


def build_encoder(
    modality: str,
    n_classes: int,
    dropout: float,
    text_dim: int,
    sigma: bool = True,
    audio_shape: tuple[int, int] = (128, 128),
    width: float = 1.0,
) -> Encoder:
    """The encoder for one modality name (`width` scales the conv channels; the text MLP keeps its size)."""
    if modality == "image":
        return image_encoder(n_classes, dropout, sigma, width)
    if modality == "audio":
        return audio_encoder(n_classes, dropout, sigma, audio_shape, width)
    if modality == "text":
        return text_encoder(n_classes, dropout, text_dim, sigma)
    raise ValueError(f"unknown modality {modality!r}")


class MultiModalNet(nn.Module):
    """One encoder per modality; returns stacked per-modality outputs [V, N, C] (fusion is separate)."""

    def __init__(
        self,
        modalities: list[str],
        n_classes: int,
        dropout: float,
        text_dim: int,
        sigma: bool = True,
        audio_shape: tuple[int, int] = (128, 128),
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.encoders = nn.ModuleDict(
            {m: build_encoder(m, n_classes, dropout, text_dim, sigma, audio_shape, width) for m in modalities}
        )
        self.to(memory_format=torch.channels_last)  # conv weights only; inputs in Encoder.forward

    def forward(self, inputs: dict[str, torch.Tensor], repeat: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
        outs = [self.encoders[m](inputs[m], repeat) for m in self.modalities]
        logits = torch.stack([o[0] for o in outs])
        sigma = torch.stack([o[1] for o in outs]) if outs[0][1] is not None else None
        return logits, sigma
