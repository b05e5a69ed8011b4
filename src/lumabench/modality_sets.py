"""Modality sets: naming them, deploying a split on one, and drawing random subsets for training.

A model trained on set A and deployed on set B (McKinzie et al., ICML 2023) receives a row's
modalities in B only. Deploying marks every other modality absent in the presence mask; the
batches then hold zeros there and every fused method leaves absent modalities out of its fusion,
so what a model never receives never enters its prediction (docs/robustness.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lumabench.data import Batch, SplitTensors
from lumabench.params import MODALITIES, canonical_set, modality_sets

__all__ = ["canonical_set", "deploy", "modality_sets", "random_subset_mask", "restrict_batch", "set_name"]

SEP = "+"


def set_name(modalities: Sequence[str]) -> str:
    """`image+audio+text`: the set in MODALITIES order joined by '+' (file names, JSON keys, labels)."""
    return SEP.join(canonical_set(tuple(modalities)))


def deploy(split: SplitTensors, modalities: Sequence[str]) -> SplitTensors:
    """The split as a deployment with only `modalities` sees it: every other modality absent in every row."""
    keep = torch.tensor([m in modalities for m in MODALITIES], dtype=torch.bool, device=split.present.device)
    return SplitTensors(
        split.sample_id, split.label, split.class_id, split.image, split.audio, split.text, split.present & keep
    )


def random_subset_mask(mask: torch.Tensor) -> torch.Tensor:
    """A random non-empty subset S of each row's present modalities, mask [..., V] -> [..., V].

    Per row a code k is drawn uniformly from 1 .. 2^V − 1 (the non-empty subsets of the V modalities)
    and S = bits(k) ∩ present; a row whose draw misses every present modality keeps them all (S = A,
    a zero distillation term). With every modality present (the robustness stage's training rows), S
    is uniform over the non-empty subsets, A itself included. Draws come from the global torch
    generator, which the training loop seeds.
    """
    v = mask.shape[-1]
    code = torch.randint(1, 2**v, mask.shape[:-1], device=mask.device)
    bits = (code.unsqueeze(-1) >> torch.arange(v, device=mask.device)) & 1
    subset = mask & bits.bool()
    return torch.where(subset.any(-1, keepdim=True), subset, mask)


def restrict_batch(batch: Batch, mask: torch.Tensor) -> Batch:
    """The batch with only the modalities of `mask` ([..., V], the batch's modality order): the others
    absent and their inputs zero, exactly as a row missing them is batched."""
    inputs = {}
    lead = mask.dim() - 1
    for i, (m, x) in enumerate(batch.inputs.items()):
        keep = mask[..., i].reshape(*mask.shape[:-1], *([1] * (x.dim() - lead))).to(x.dtype)
        inputs[m] = x * keep
    return Batch(inputs, mask, batch.labels)
