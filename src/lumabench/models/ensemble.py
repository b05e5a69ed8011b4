"""M independently initialised networks evaluated as ONE network: grouped convolutions and batched matmuls.

`EnsembleNet(members, conv)` takes M `MultiModalNet`s of the same architecture and stacks their
weights along a leading member axis. Convolutional stages run either in a grouped layout
[B, M·C, H, W] (conv with groups = M, so member m only sees its own channel block) or member by
member on the stacked weights (`conv` = "grouped" / "members"; "auto" = members on the CPU, where
oneDNN runs M plain convolutions faster than one grouped one, grouped on CUDA). Fully connected
stages run in a batched layout [M, B, F] (`baddbmm`). Dropout, ReLU and max-pooling act element- or
channel-wise, so they are shared modules and still draw independent masks per member. The result
equals running each member on its own (tests check both layouts).

Why not `torch.func.vmap`: its convolution batching rule measured 2.5x slower on CPU than a grouped
convolution of the same shapes, and vmap cannot use channels-last layouts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lumabench.models.encoders import Encoder, MultiModalNet
from lumabench.params import EnsembleConvLayout


def member_channels_last(weight: torch.Tensor) -> torch.Tensor:
    """A copy of stacked conv weights [M, O, I, k, k] whose every member [O, I, k, k] is channels-last.

    The stride of the input-channel axis is 1 even when I = 1. A convolution's output layout follows
    its input's and weight's: an audio input [B, 1, H, W] is channels-last and contiguous at once, so
    a weight of one input channel with the contiguous stride there made every member's convolution,
    max-pool and their backward passes run in the slower contiguous layout (a training step of the mini
    audio encoder, 3 members, batch 128, one CPU thread: 265 ms, against 147 ms with this layout; one
    network: 55 ms).
    """
    _, o, i, kh, kw = weight.shape
    out = torch.empty_strided(
        tuple(weight.shape), (o * i * kh * kw, i * kh * kw, 1, kw * i, i), dtype=weight.dtype, device=weight.device
    )
    return out.copy_(weight)


class EnsembleConv2d(nn.Module):
    """M Conv2d layers as one grouped convolution; weight [M, O, I, k, k], bias [M, O]."""

    def __init__(self, convs: list[nn.Conv2d]) -> None:
        super().__init__()
        self.weight = nn.Parameter(member_channels_last(torch.stack([c.weight.detach() for c in convs])))
        self.bias = nn.Parameter(torch.stack([c.bias.detach() for c in convs]))  # type: ignore[union-attr]
        self.members = len(convs)
        self.in_channels = convs[0].in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, M·I, H, W] (per-member inputs) or [B, I, H, W] (one input shared by every member)."""
        w = self.weight.flatten(0, 1)
        groups = 1 if x.shape[1] == self.in_channels and self.members > 1 else self.members
        return F.conv2d(x, w, self.bias.flatten(), groups=groups)


class EnsembleLinear(nn.Module):
    """M Linear layers as one batched matmul on [M, B, I]; weight [M, O, I], bias [M, O]."""

    def __init__(self, linears: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([lin.weight.detach() for lin in linears]))
        self.bias = nn.Parameter(torch.stack([lin.bias.detach() for lin in linears]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class EnsembleFlatten(nn.Module):
    """Grouped [B, M·C, h, w] → batched [M, B, C·h·w], each member flattened in its own (c, h, w) order."""

    def __init__(self, members: int) -> None:
        super().__init__()
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.members, -1).transpose(0, 1)


def _stack_layers(seqs: list[nn.Sequential]) -> nn.Sequential:
    out: list[nn.Module] = []
    for layers in zip(*seqs, strict=True):
        first = layers[0]
        if isinstance(first, nn.Conv2d):
            out.append(EnsembleConv2d(list(layers)))  # type: ignore[arg-type]
        elif isinstance(first, nn.Linear):
            out.append(EnsembleLinear(list(layers)))  # type: ignore[arg-type]
        elif isinstance(first, nn.Flatten):
            out.append(EnsembleFlatten(len(layers)))
        elif isinstance(first, nn.ReLU | nn.MaxPool2d | nn.Dropout):
            out.append(first)  # stateless and element/channel-wise: one module serves every member
        else:
            raise TypeError(f"no ensemble form for layer {type(first).__name__}")
    return nn.Sequential(*out)


class EnsembleEncoder(nn.Module):
    """M copies of one `Encoder`; logits and σ [M, B, C]."""

    def __init__(self, members: list[Encoder], conv: EnsembleConvLayout = "auto") -> None:
        super().__init__()
        self.members = len(members)
        self.layout = conv
        self.conv = isinstance(members[0].stem[0], nn.Conv2d)  # type: ignore[index]
        self.stem = _stack_layers([e.stem for e in members])  # type: ignore[misc]
        self.body = _stack_layers([e.body for e in members])  # type: ignore[misc]
        self.head = EnsembleLinear([e.head for e in members])
        heads = [e.sigma_head for e in members]
        self.sigma_head = EnsembleLinear(heads) if heads[0] is not None else None  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, per_member: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [M, B, ...] when `per_member`, else [B, ...] shared by all members."""
        by_member = self.layout == "members" or (self.layout == "auto" and x.device.type == "cpu")
        h = self._conv_members(x, per_member) if self.conv and by_member else self._grouped(x, per_member)
        logits = self.head(h)
        sigma = F.softplus(self.sigma_head(h)) if self.sigma_head is not None else None
        return logits, sigma

    def _conv_members(self, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        """The convolutional stages member by member, [M, B, F]: on CPU, M plain channels-last
        convolutions measured 1.2-1.8x faster than one grouped convolution (oneDNN); on CUDA it is
        a measurement away (`train.ensemble_conv`)."""
        layers = (*self.stem, *self.body)
        # one unbind per weight (its backward is one stack), not one indexing op per member
        split = {
            j: (ly.weight.unbind(0), ly.bias.unbind(0)) for j, ly in enumerate(layers) if isinstance(ly, EnsembleConv2d)
        }
        outs = []
        for i in range(self.members):
            h = (x[i] if per_member else x).contiguous(memory_format=torch.channels_last)
            for j, layer in enumerate(layers):
                if j in split:
                    h = F.conv2d(h, split[j][0][i], split[j][1][i])
                elif isinstance(layer, EnsembleFlatten):
                    h = h.flatten(1)
                else:
                    h = layer(h)
            outs.append(h)
        return torch.stack(outs)

    def _grouped(self, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        """Every stage for all members at once (grouped convolutions, batched matmuls), [M, B, F]."""
        m = self.members
        if self.conv:
            if per_member:  # [M, B, C, H, W] -> [B, M·C, H, W]
                x = x.transpose(0, 1).flatten(1, 2)
            x = x.contiguous(memory_format=torch.channels_last)
        elif not per_member:
            x = x.unsqueeze(0).expand(m, *x.shape)
        return self.body(self.stem(x))


class EnsembleNet(nn.Module):
    """M `MultiModalNet`s in one forward: logits, σ [M, V, B, C]."""

    def __init__(self, members: list[MultiModalNet], conv: EnsembleConvLayout = "auto") -> None:
        super().__init__()
        self.modalities = list(members[0].modalities)
        self.members = len(members)
        self.encoders = nn.ModuleDict(
            {mod: EnsembleEncoder([net.encoders[mod] for net in members], conv) for mod in self.modalities}  # type: ignore[misc]
        )

    def forward(self, inputs: dict[str, torch.Tensor], per_member: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        outs = [self.encoders[mod](inputs[mod], per_member) for mod in self.modalities]
        logits = torch.stack([o[0] for o in outs], 1)
        sigma = torch.stack([o[1] for o in outs], 1) if outs[0][1] is not None else None
        return logits, sigma
