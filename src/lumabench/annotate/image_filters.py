"""Duplicate images: exact copies (same pixels) anywhere, and near-copies across source pools.

Near-copies use the DCT perceptual hash (Zauner, "Implementation and Benchmarking of Perceptual
Image Hash Functions", 2010): grey 32x32 image -> 2-D DCT-II -> the 8x8 lowest frequencies ->
bit = coefficient above the median of the 63 AC coefficients. Two images are near-copies when
their 64-bit hashes differ in at most `near_duplicate_hamming` bits. Candidates are found by
multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): split the hash into h+1 blocks; by the
pigeonhole principle two hashes within distance h agree exactly on at least one block.

When copies meet, the one kept is the test-pool image, then train, then ood (then the smaller id),
so a test image never has a twin in the training pool.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.fft import dctn

from lumabench.io import read_image_rgb

POOL_RANK = {"test": 0, "train": 1, "ood": 2}


def load_rgb(path: Path) -> np.ndarray:
    """Pixels as uint8 [H, W, 3]; an unreadable or oversized (decompression bomb) file is one InputError."""
    return read_image_rgb(path, "re-run `lumabench corpora`")


def pixel_sha256(pixels: np.ndarray) -> str:
    """sha256 of the decoded pixels and their shape (PNG encoder settings do not matter)."""
    h = hashlib.sha256(repr(pixels.shape).encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()


def phash(pixels: np.ndarray) -> int:
    """64-bit DCT perceptual hash."""
    grey = Image.fromarray(pixels).convert("L")
    if grey.size != (32, 32):
        grey = grey.resize((32, 32), Image.Resampling.BILINEAR)
    coeffs = dctn(np.asarray(grey, dtype=np.float64), type=2, norm="ortho")[:8, :8].ravel()
    median = np.median(coeffs[1:])
    bits = coeffs > median
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def _blocks(h: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, 64, h + 2).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def near_pairs(hashes: Sequence[int], max_distance: int) -> set[tuple[int, int]]:
    """All index pairs (i < j) whose hashes differ in at most `max_distance` bits."""
    arr = np.array(hashes, dtype=np.uint64)
    pairs: set[tuple[int, int]] = set()
    for lo, hi in _blocks(max_distance):
        mask = np.uint64((1 << (hi - lo)) - 1)
        keys = (arr >> np.uint64(lo)) & mask
        groups: dict[int, list[int]] = defaultdict(list)
        for i, k in enumerate(keys.tolist()):
            groups[k].append(i)
        for members in groups.values():
            if len(members) < 2:
                continue
            m = np.array(members)
            for x in range(len(m) - 1):
                d = np.bitwise_count(arr[m[x]] ^ arr[m[x + 1 :]])
                for y in np.nonzero(d <= max_distance)[0]:
                    pairs.add((int(m[x]), int(m[x + 1 + y])))
    return pairs


def duplicates(
    ids: Sequence[str],
    pools: Sequence[str],
    shas: Sequence[str],
    hashes: Sequence[int],
    max_distance: int,
    protected: frozenset[int] = frozenset(),
) -> dict[int, tuple[str, int]]:
    """Index -> (filter, index of the kept twin) for every image to drop.

    Exact copies are dropped within and across pools; near-copies only across pools (images of
    one class rendered or photographed alike are not leaks). `protected` indices are never dropped.
    """
    order = sorted(range(len(ids)), key=lambda i: (POOL_RANK.get(pools[i], 9), ids[i]))
    dropped: dict[int, tuple[str, int]] = {}
    first_by_sha: dict[str, int] = {}
    for i in order:
        k = first_by_sha.setdefault(shas[i], i)
        if k != i and i not in protected:
            dropped[i] = ("exact_duplicate", k)
    alive = [i for i in range(len(ids)) if i not in dropped]
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in near_pairs([hashes[i] for i in alive], max_distance):
        i, j = alive[a], alive[b]
        if pools[i] != pools[j]:
            neighbours[i].append(j)
            neighbours[j].append(i)
    kept: set[int] = set()
    for i in order:
        if i in dropped:
            continue
        twins = sorted(j for j in neighbours.get(i, []) if j in kept)
        if twins and i not in protected:
            dropped[i] = ("near_duplicate", min(twins, key=lambda j: (POOL_RANK.get(pools[j], 9), ids[j])))
        else:
            kept.add(i)
    return dropped
