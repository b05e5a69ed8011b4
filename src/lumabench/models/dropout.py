"""Inverted dropout whose CPU mask is drawn from uniform floats instead of a Bernoulli sampler.

On the CPU `torch.bernoulli_` draws about 110 M values/s, half the rate of `uniform_` (measured on
2 cores, torch 2.11); dropout masks are a third of MC-Dropout prediction time for the text model.
The mask here is `u >= p` for u ~ U[0, 1), kept entries scaled by 1 / (1 - p): the same
distribution as `nn.Dropout` (P(keep) = 1 - p, E[output] = input), drawn from the same global
generator, so seeding works as before. On CUDA the fused native kernel is faster and is used.
"""

from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Dropout):
    """`nn.Dropout` (a subclass, so it is treated as one everywhere) with a faster CPU mask."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        if self.p >= 1.0:
            return x * 0.0
        mask = torch.empty_like(x).uniform_().ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * mask
