"""Seeded generators derived from (seed, stage, key): no global RNG, no dependence on order."""

from __future__ import annotations

import hashlib

import numpy as np


def _words(*parts: object) -> list[int]:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def rng(seed: int, stage: str, *key: object) -> np.random.Generator:
    """An independent generator for one item of one stage.

    The same (seed, stage, key) always gives the same stream, and streams for different keys are
    statistically independent, so results do not depend on the order items are processed in.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *_words(stage, *key)])))


def int_seed(seed: int, stage: str, *key: object) -> int:
    """A 63-bit integer seed for libraries that take one (torch, engines)."""
    return int(rng(seed, stage, *key).integers(0, 2**63 - 1))
