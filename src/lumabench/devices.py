"""The one rule for a `device` parameter: `auto` picks CUDA when a GPU is visible; `cuda` without one is an error."""

from __future__ import annotations

from lumabench.errors import ParamsError


def resolve_device(choice: str, key: str) -> str:
    """ "cuda" or "cpu" (or the explicit choice) for parameter `key` (e.g. "train.device")."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ParamsError(f"{key} is cuda but no CUDA device is visible", fix=f"set {key}: auto or cpu")
    return choice
