"""Near-duplicate detection for texts: MinHash signatures of word shingles, LSH banding, exact check.

MinHash (Broder, "On the resemblance and containment of documents", 1997): for a random hash h,
P[min h(A) = min h(B)] = J(A, B), the Jaccard similarity of the shingle sets. The k hash functions
are h_i(x) = (a_i x + b_i) mod p with p = 2^31 - 1 and (a_i, b_i) drawn from the stage's seeded
generator. Banding (Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3.4): pairs
that agree on all rows of at least one band become candidates; each candidate's Jaccard is then
computed exactly on the shingle sets, so the estimate only decides what to look at.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

PRIME = (1 << 31) - 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def shingles(text: str, k: int) -> frozenset[int]:
    """The set of k-word shingles of `text` (lower-cased words), each hashed to 31 bits."""
    words = _WORD.findall(text.lower())
    if len(words) < k:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
    return frozenset(
        int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") % PRIME for g in grams
    )


def signatures(sets: Sequence[frozenset[int]], n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """MinHash signature matrix [len(sets), n_perm] (uint64); an empty set gets all PRIME."""
    a = rng.integers(1, PRIME, size=n_perm, dtype=np.uint64)
    b = rng.integers(0, PRIME, size=n_perm, dtype=np.uint64)
    out = np.full((len(sets), n_perm), PRIME, dtype=np.uint64)
    for i, s in enumerate(sets):
        if s:
            x = np.fromiter(s, dtype=np.uint64, count=len(s))
            out[i] = ((np.outer(x, a) + b) % PRIME).min(axis=0)
    return out


def band_rows(n_perm: int, threshold: float) -> int:
    """Rows per band so that the LSH S-curve (1/b)^(1/r) sits well below `threshold`."""
    best = 1
    for r in range(1, n_perm + 1):
        b = n_perm // r
        if b >= 1 and (1.0 / b) ** (1.0 / r) <= max(threshold - 0.25, 0.05):
            best = r
    return best


def candidate_pairs(sig: np.ndarray, rows: int) -> set[tuple[int, int]]:
    """Index pairs (i < j) that share at least one whole band of their signatures."""
    n, n_perm = sig.shape
    pairs: set[tuple[int, int]] = set()
    for start in range(0, n_perm - rows + 1, rows):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        band = np.ascontiguousarray(sig[:, start : start + rows])
        for i in range(n):
            buckets[band[i].tobytes()].append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
    return pairs


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def near_duplicates(
    texts: Sequence[str], threshold: float, n_perm: int, k: int, rng: np.random.Generator
) -> dict[int, tuple[int, float]]:
    """Index -> (index of the earlier kept twin, Jaccard) for every text to drop.

    Texts are taken in the given order; a text is dropped when it is at least `threshold` similar
    to an earlier text that is kept, so exactly one of each group of copies survives.
    """
    sets = [shingles(t, k) for t in texts]
    sig = signatures(sets, n_perm, rng)
    pairs = candidate_pairs(sig, band_rows(n_perm, threshold))
    later: dict[int, list[int]] = defaultdict(list)
    for i, j in pairs:
        later[j].append(i)
    dropped: dict[int, tuple[int, float]] = {}
    for j in sorted(later):
        best: tuple[int, float] | None = None
        for i in sorted(later[j]):
            if i in dropped:
                continue
            sim = jaccard(sets[i], sets[j])
            if sim >= threshold and (best is None or sim > best[1]):
                best = (i, sim)
        if best is not None:
            dropped[j] = best
    return dropped
