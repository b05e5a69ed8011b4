"""Pools, per-class selection, alignment into triplets, conflict and missing modalities (LUMA-SPEC §2, §6).

Which random draws are shared: the train/test pools of audio and text, the per-class selection
(every test split, and the train split of every non-diversity variant) and the alignment shuffle
depend on (seed, split, modality, class) only, so `clean`, `label_noise`, `conflict`, ... start
from the same triplets and differ only by what their family injects, and every variant has the
same test triplets before injection (LUMA keeps one fixed test set). Everything a family injects
is keyed by the variant name too. No draw depends on the order in which variants are built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from lumabench import classes
from lumabench.errors import InputError
from lumabench.params import MODALITIES
from lumabench.seeding import rng
from lumabench.variants.sampling import diverse_sample

log = logging.getLogger(__name__)
STAGE = "variants"


def assign_pools(df: pd.DataFrame, modality: str, train_per_class: int, test_per_class: int, seed: int) -> np.ndarray:
    """The pool (train | test | ood) of every item.

    Images keep their source split (CIFAR train/test), so a test image was never a training image.
    Audio and text have no source split: each in-distribution class is shuffled (seeded per class)
    and its first round(n·test/(train+test)) items form the test pool. OOD classes form `ood`.
    """
    pools = np.empty(len(df), dtype=object)
    ood = (df["class_id"] >= classes.N_ID).to_numpy()
    pools[ood] = "ood"
    if modality == "image":
        given = df["pool"].astype(str).to_numpy()
        pools[~ood] = np.where(given[~ood] == "test", "test", "train")
        return pools
    frac = test_per_class / (train_per_class + test_per_class)
    cids = df["class_id"].to_numpy()
    for cid in np.unique(cids[~ood]):
        idx = np.nonzero(cids == cid)[0]
        order = idx[rng(seed, STAGE, "pool", modality, int(cid)).permutation(len(idx))]
        n_test = min(len(idx) - 1, max(1, round(len(idx) * frac))) if len(idx) > 1 else 0
        pools[order[:n_test]] = "test"
        pools[order[n_test:]] = "train"
    return pools


def select(
    df: pd.DataFrame,
    feats: np.ndarray,
    pools: np.ndarray,
    split: str,
    n: int,
    modality: str,
    seed: int,
    variant: str,
    compactness: float | None,
    num_sampling: int,
) -> np.ndarray:
    """Row indices of `df` selected for `split`: n per in-distribution class.

    compactness None: uniform draw without replacement (shared by all variants); else
    compactness sampling (sampling.py), for the train split only: the test split is one fixed
    selection in every variant, as in LUMA. A class with fewer than n items gives all of them, and
    alignment repeats some.
    """
    if compactness is not None and split != "train":
        raise ValueError(f"compactness sampling applies to the train split only, not {split!r}")
    out = []
    in_split = pools == split
    for cid in range(classes.N_ID):
        idx = np.nonzero(in_split & (df["class_id"].to_numpy() == cid))[0]
        if len(idx) == 0:
            raise InputError(
                f"no accepted {modality} items of class {classes.NAMES[cid]!r} in the {split} pool",
                None,
                "re-run `lumabench annotate` with looser filters or a larger corpus",
            )
        if compactness is None:
            r = rng(seed, STAGE, "select", split, modality, cid)
            pick = r.permutation(len(idx))[: min(n, len(idx))]
        else:
            r = rng(seed, STAGE, variant, "diversity", split, modality, cid)
            pick = diverse_sample(feats[idx], n, compactness, num_sampling, r)
        out.append(idx[np.sort(pick)])
    return np.concatenate(out)


def align(
    items: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    switched: dict[str, np.ndarray],
    reserve: Callable[[str, int], np.ndarray],
    n_per_class: int,
    split: str,
    seed: int,
) -> dict[str, np.ndarray]:
    """Pair modalities per class by position after a seeded shuffle (LUMA-SPEC §6).

    `items[m]` are the selected item rows of modality m, `labels[m]` their (possibly switched)
    class ids and `switched[m]` which of them label noise moved. Every class gets exactly
    n_per_class rows. Label switching keeps class sizes (a class receives as many items as it
    sends out, label_noise.py), so a class never holds more than n_per_class items and nothing is
    cut. Only a class whose pool is smaller than n_per_class is topped up: with unselected clean
    items of its pool (`reserve(m, class_id)`), then by repeating its own clean items.
    Returns, per modality, the item rows ordered by class then position.
    """
    out: dict[str, list[np.ndarray]] = {m: [] for m in items}
    for cid in range(classes.N_ID):
        for m in items:
            r = rng(seed, STAGE, "align", split, m, cid)
            here = labels[m] == cid
            moved = items[m][here & switched[m]]
            kept = items[m][here & ~switched[m]]
            chosen = np.concatenate([moved[r.permutation(len(moved))], kept[r.permutation(len(kept))]])
            if len(chosen) > n_per_class:
                raise RuntimeError(
                    f"{split}/{m}/{classes.NAMES[cid]}: {len(chosen)} items for {n_per_class} rows "
                    "(selection or label switching changed a class size)"
                )
            if len(chosen) < n_per_class:
                chosen = np.concatenate([chosen, reserve(m, cid)[: n_per_class - len(chosen)]])
            if len(chosen) == 0:
                raise InputError(
                    f"class {classes.NAMES[cid]!r} has no {m} items in {split}", None, "use a larger corpus"
                )
            if len(chosen) < n_per_class:
                log.warning(
                    "%s/%s/%s: %d items for %d rows (repeated)", split, m, classes.NAMES[cid], len(chosen), n_per_class
                )
                clean_part = chosen[len(moved) :] if len(chosen) > len(moved) else chosen
                chosen = np.concatenate([chosen, r.choice(clean_part, size=n_per_class - len(chosen), replace=True)])
            out[m].append(chosen[r.permutation(n_per_class)])
    return {m: np.concatenate(v).astype(np.intp) for m, v in out.items()}


def reserve_rows(
    df: pd.DataFrame, pools: np.ndarray, split: str, selected: np.ndarray, modality: str, seed: int, cid: int
) -> np.ndarray:
    """Unselected items of class `cid` in the `split` pool, in a seeded order (for topping up)."""
    idx = np.nonzero((pools == split) & (df["class_id"].to_numpy() == cid))[0]
    idx = np.setdiff1d(idx, selected)
    return idx[rng(seed, STAGE, "reserve", split, modality, cid).permutation(len(idx))]


def align_ood(accepted: dict[str, pd.DataFrame], pools: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """OOD triplets: per OOD class, each modality shuffled and cut to the smallest modality count."""
    out: dict[str, list[np.ndarray]] = {m: [] for m in MODALITIES}
    for c in classes.OOD_CLASSES:
        idx = {m: np.nonzero((pools[m] == "ood") & (accepted[m]["class_id"].to_numpy() == c.id))[0] for m in MODALITIES}
        n = min(len(v) for v in idx.values())
        if n == 0:
            log.warning("OOD class %r has no items in some modality; it is left out", c.name)
            continue
        for m in MODALITIES:
            r = rng(seed, STAGE, "align", "ood", m, c.id)
            out[m].append(idx[m][r.permutation(len(idx[m]))][:n])
    return {m: np.concatenate(v) if v else np.zeros(0, np.intp) for m, v in out.items()}


def conflict_rows(class_ids: np.ndarray, rate: float, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows given a conflicting modality: round(rate·n_c) per class, each with one modality drawn uniformly.

    Returns (row indices, modality index 0..2 per row).
    """
    rows = []
    for cid in np.unique(class_ids):
        idx = np.nonzero(class_ids == cid)[0]
        k = round(rate * len(idx))
        rows.append(np.sort(r.choice(idx, size=k, replace=False)))
    rows_a = np.concatenate(rows) if rows else np.zeros(0, np.intp)
    return rows_a, r.integers(0, 3, size=len(rows_a))


def missing_mask(n: int, rates: dict[str, float], r: np.random.Generator) -> dict[str, np.ndarray]:
    """Drop round(rate·n) rows per modality; a row always keeps at least one modality.

    Modalities are drawn in order image, audio, text, each among the rows that would still keep a
    modality; if too few such rows remain the count is capped (logged). Each modality takes the
    first eligible rows of one random order of all rows, drawn whatever the rate, so from one
    generator state a lower rate drops (nearly always) a subset of what a higher rate drops: the
    levels of a missing-rate sweep share their draws.
    """
    dropped = {m: np.zeros(n, dtype=bool) for m in MODALITIES}
    for m in MODALITIES:
        order = r.permutation(n)
        k = round(rates[m] * n)
        if k == 0:
            continue
        others = [o for o in MODALITIES if o != m]
        keeps_one = ~(dropped[others[0]] & dropped[others[1]])
        eligible = order[keeps_one[order]]
        if k > len(eligible):
            log.warning("missing %s: only %d of %d rows can drop it and keep a modality", m, len(eligible), k)
            k = len(eligible)
        dropped[m][eligible[:k]] = True
    return dropped
