"""Hugging Face models read from the local cache only: the pipeline never downloads at run time."""

from __future__ import annotations

from typing import Any

from lumabench.errors import MissingDependencyError


def from_local_cache(
    name: str, tokenizer_cls: Any, model_cls: Any, device: str, what: str, fix: str
) -> tuple[Any, Any]:
    """Tokenizer and eval-mode model `name` on `device`; a cache miss is one error naming `what` and the fix."""
    try:
        tok = tokenizer_cls.from_pretrained(name, local_files_only=True)
        model = model_cls.from_pretrained(name, local_files_only=True).to(device).eval()
    except OSError as exc:
        raise MissingDependencyError(f"{what} {name} is not in the local Hugging Face cache", fix=fix) from exc
    return tok, model
