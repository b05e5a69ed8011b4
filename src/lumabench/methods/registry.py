"""Method registry: `METHODS[kind] = class`, filled by the `@register(kind)` decorator.

`load_all()` imports every module of this package, so a new method is one file here plus one
`methods:` entry in params.yaml (and its kind in `params.Method.kind`; a test keeps the two in sync).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lumabench.methods.base import Method

M = TypeVar("M", bound="type[Method]")
METHODS: dict[str, type[Method]] = {}


def register(kind: str) -> Callable[[M], M]:
    """Class decorator: record the class under `kind` (one class per kind)."""

    def deco(cls: M) -> M:
        if kind in METHODS and METHODS[kind] is not cls:
            raise ValueError(f"method kind {kind!r} is registered twice")
        cls.kind = kind
        METHODS[kind] = cls
        return cls

    return deco


def load_all() -> dict[str, type[Method]]:
    """Import every method module of the package and return the filled registry."""
    import lumabench.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in {"base", "registry", "losses"}:
            importlib.import_module(f"lumabench.methods.{info.name}")
    return METHODS
