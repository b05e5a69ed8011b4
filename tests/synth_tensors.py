"""Tiny in-memory splits where every modality tells the class, for method unit tests."""

from __future__ import annotations

import torch

from lumabench.data import Normaliser, SplitTensors
from lumabench.params import MODALITIES

K = 4  # classes
D = 12  # text feature width
NORM = Normaliser((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 0.0, 1.0)


def modal_split(n: int, seed: int, text_dim: int = D) -> SplitTensors:
    """Image: a class colour; audio: a class band of the spectrogram; text: a class direction; plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.9, 0.9, 0.1]])
    image = colours[y].view(n, 3, 1, 1) + 0.25 * torch.randn(n, 3, 32, 32, generator=g)
    audio = torch.randn(n, 1, 32, 32, generator=g)
    for c in range(K):
        audio[y == c, :, 8 * c : 8 * c + 8] += 1.5
    text = torch.nn.functional.one_hot(y, text_dim).float() * 2.0 + torch.randn(n, text_dim, generator=g)
    return SplitTensors(
        sample_id=[str(i) for i in range(n)],
        label=[str(int(c)) for c in y],
        class_id=y,
        image=(image.clamp(0, 1) * 255).round().to(torch.uint8),
        audio=audio.half(),
        text=text,
        present=torch.ones(n, len(MODALITIES), dtype=torch.bool),
    )
