"""Assemble one variant: select, switch labels, align, inject conflict/missing/noise, write Parquet.

Provenance (one row = one aligned triplet): `label` is the row's class (after any label noise).
`<modality>_label_original` is the true class of the item that modality holds; it is the truth
and differs from `label` where that modality's item was relabelled by label noise or where
conflict put the next class's item in. `switched_modalities` names the modalities whose item was
relabelled by label noise (empty list otherwise; a conflict modality is not switched, it is named
in `conflict_modality`), and `label_switched` says whether any was. `label_original` is the row's
label when no modality was switched and null otherwise: a row mixing items of several classes
has no single original label (no vote). `missing` drops a modality's data *and* its id (both
null) and names it in `missing_modalities` (an empty list when nothing is missing).

Label noise (label_noise.py) switches exactly round(p · n_c) items of every class and modality
and lets every class receive exactly as many as it sent out, so each class keeps n_per_class
rows with (1 − p) of its own items; variant.json records, per split and modality, the share of
switched items that reached their first-choice (nearest) class.

Compactness sampling (`diversity`) shapes the train selection only; the test selection is the
same in every variant. OOD rows get the test-time sample noise, joint noise and missing
modalities (LUMA perturbs test and OOD alike), never label noise or conflict: OOD classes have
no in-distribution label to switch from and no "next class".
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image

from lumabench import classes
from lumabench.audio.clips import is_clip_wav, load_mono, wav_bytes
from lumabench.errors import InputError, ParamsError
from lumabench.features.inputs import ID_COLUMN, load_image, read_accepted
from lumabench.io import atomic_dir, dumps_json, load_npy, read_parquet, write_parquet
from lumabench.logs import progress
from lumabench.native import media_cell
from lumabench.params import IMAGE_CORRUPTIONS, TEXT_PERTURBATIONS, Params
from lumabench.paths import Paths
from lumabench.schemas import FEATURE_IDS, VARIANT_ROWS
from lumabench.seeding import rng
from lumabench.variants import align as al
from lumabench.variants import card
from lumabench.variants.audio_noise import NoiseBank, load_bank, mix_at_snr, noise_segment
from lumabench.variants.image_noise import corrupt
from lumabench.variants.label_noise import switch_labels
from lumabench.variants.text_noise import perturb_texts

log = logging.getLogger(__name__)
MODALITIES = al.MODALITIES
STAGE = al.STAGE
SPLITS = ("train", "test", "ood")
JOINT_TEXT = tuple(p for p in TEXT_PERTURBATIONS if p != "back_translation")


@dataclass
class Inputs:
    """Everything a variant is built from, loaded once (several variants can share it)."""

    paths: Paths
    accepted: dict[str, pd.DataFrame]
    feats: dict[str, np.ndarray]
    pools: dict[str, np.ndarray]
    _bank: NoiseBank | None = None
    _images: dict[int, np.ndarray] = field(default_factory=dict)
    _waves: dict[int, np.ndarray] = field(default_factory=dict)
    _paths: dict[str, list[str]] = field(default_factory=dict)

    def bank(self) -> NoiseBank:
        if self._bank is None:
            manifest = read_parquet(self.paths.manifest, fix="re-run `lumabench corpora`").to_pandas()
            for rel in manifest.loc[manifest["kind"] == "noise", "path"]:
                self.paths.confine(rel, "noise file path", self.paths.manifest)
            self._bank = load_bank(manifest, self.paths.root)
        return self._bank

    def image(self, row: int) -> np.ndarray:
        if row not in self._images:
            self._images[row] = load_image(self._media("image", row))
        return self._images[row]

    def wave(self, row: int) -> np.ndarray:
        if row not in self._waves:
            self._waves[row] = load_mono(self._media("audio", row))
        return self._waves[row]

    def stored(self, modality: str, row: int) -> bytes | None:
        """The accepted file's bytes when they already are what this stage would write for an
        unchanged item (an 8-bit RGB PNG; a 16-bit PCM mono WAV at 16 kHz), else None.

        Decoding and re-encoding an unchanged item was half of a variants job. The PNG bytes are
        identical either way; a WAV read as float and written back as 16-bit PCM moved some samples
        by one step, so its own bytes are the more faithful copy. Every accepted file was decoded by
        the features stage; the train stage decodes the variant's bytes and names a bad cell.
        """
        data = self._media(modality, row).read_bytes()
        ok = is_rgb8_png(data) if modality == "image" else is_clip_wav(data)
        return data if ok else None

    def _media(self, modality: str, row: int) -> Path:
        """The file of an accepted item: a path from a Parquet cell, so confined to the project."""
        if modality not in self._paths:  # a list: indexing a DataFrame column per file cost more than the read
            self._paths[modality] = self.accepted[modality]["path"].tolist()
        rel = self._paths[modality][row]
        return self.paths.confine(rel, f"{modality} path", self.paths.accepted / f"{modality}.parquet")


def load_inputs(params: Params, paths: Paths) -> Inputs:
    """Accepted items, their features (checked to cover every item and to be finite) and their pools."""
    accepted = read_accepted(paths)
    feats, pools = {}, {}
    fix = "re-run `lumabench features`"
    for m in MODALITIES:
        ids = read_parquet(paths.features / f"{m}.parquet", FEATURE_IDS, fix).column("id").to_pylist()
        npy = paths.features / f"{m}.npy"
        # finite, complete, numeric: NaN rows would silently redirect label switching (nearest class)
        mat = load_npy(npy, fix, ndim=2)
        if mat.shape[0] != len(ids):
            raise InputError(f"features have shape {mat.shape} for {len(ids)} ids", npy, fix)
        where = {i: k for k, i in enumerate(ids)}
        missing = [i for i in accepted[m]["id"] if i not in where]
        if missing:
            raise InputError(f"{len(missing)} accepted {m} items have no features (e.g. {missing[0]!r})", npy, fix)
        feats[m] = mat[[where[i] for i in accepted[m]["id"]]]
        pools[m] = al.assign_pools(
            accepted[m], m, params.variants.train_per_class, params.variants.test_per_class, params.seed
        )
    return Inputs(paths, accepted, feats, pools)


# ------------------------------------------------------------------ row plans
def _empty_plan(n: int) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "image_noise": np.full(n, None, dtype=object),
        "image_severity": np.full(n, -1, dtype=np.int64),
        "audio_noise": np.full(n, -1, dtype=np.int64),
        "audio_snr_db": np.full(n, np.nan),
        "text_noise": np.full(n, None, dtype=object),
        "conflict_modality": np.full(n, None, dtype=object),
    }
    plan.update({f"{m}_switched": np.zeros(n, dtype=bool) for m in MODALITIES})
    return plan


def _split_plan(
    split: str, defn: Any, inp: Inputs, params: Params, variant: str, switch_stats: dict[str, Any]
) -> dict[str, Any]:
    """Which item of each modality sits in each row, and every injected change, for one split.

    OOD rows get the test-time injections (sample noise, joint noise, missing) but no label noise
    or conflict: OOD classes have no in-distribution label to switch from and no "next class".
    Label-switch statistics of the split are written into `switch_stats` (per modality).
    """
    v = params.variants
    seed = params.seed
    fam = defn.family
    draws = v.draws_key(variant)  # a sweep's levels share their draws (`Variants.draws_key`)
    if split == "ood":
        pos = al.align_ood(inp.accepted, inp.pools, seed)
        cid = inp.accepted["image"]["class_id"].to_numpy()[pos["image"]]
        plan = {"class_id": cid, **{f"{m}_row": pos[m] for m in MODALITIES}}
        plan.update({f"{m}_orig": inp.accepted[m]["class_id"].to_numpy()[pos[m]] for m in MODALITIES})
        plan.update(_empty_plan(len(cid)))
        _inject(plan, "test", split, defn, inp, seed, draws)
        return plan
    n_pc = v.train_per_class if split == "train" else v.test_per_class
    sel, lab = {}, {}
    for m in MODALITIES:
        # compactness sampling shapes the train pool only; test is the shared fixed selection
        comp = float(getattr(defn.compactness, m)) if fam == "diversity" and split == "train" else None
        sel[m] = al.select(
            inp.accepted[m], inp.feats[m], inp.pools[m], split, n_pc, m, seed, draws, comp, v.num_sampling
        )
        lab[m] = inp.accepted[m]["class_id"].to_numpy()[sel[m]]
    switched = {m: np.zeros(len(sel[m]), dtype=bool) for m in MODALITIES}
    if fam == "label_noise":
        for m in MODALITIES:
            rate = getattr(getattr(defn.rate, m), split)
            sw = switch_labels(
                inp.feats[m][sel[m]], lab[m], rate, classes.N_ID, rng(seed, STAGE, draws, "label", split, m),
                k=defn.neighbours,
            )  # fmt: skip
            lab[m], switched[m] = sw.labels, sw.switched
            n_sw = int(sw.switched.sum())
            switch_stats[m] = {
                "switched": n_sw,
                "first_choice": int(sw.first_choice.sum()),
                "first_choice_share": round(sw.first_choice_share, 6),
            }
            log.info(
                "%s/%s/%s: %d of %d items switched, %.1f%% to their first-choice class",
                variant, split, m, n_sw, len(sel[m]), 100 * sw.first_choice_share,
            )  # fmt: skip

    def reserve(m: str, cid: int) -> np.ndarray:
        return al.reserve_rows(inp.accepted[m], inp.pools[m], split, sel[m], m, seed, cid)

    rows = al.align(sel, lab, switched, reserve, n_pc, split, seed)
    n = classes.N_ID * n_pc
    plan = {"class_id": np.repeat(np.arange(classes.N_ID), n_pc)}
    for m in MODALITIES:
        plan[f"{m}_row"] = rows[m]
        plan[f"{m}_orig"] = inp.accepted[m]["class_id"].to_numpy()[rows[m]]
    plan.update(_empty_plan(n))
    for m in MODALITIES:
        plan[f"{m}_switched"] = np.isin(rows[m], sel[m][switched[m]])
    if fam == "conflict" and split == "test" and defn.test_rate > 0:
        rows, mods = al.conflict_rows(plan["class_id"], defn.test_rate, rng(seed, STAGE, draws, "conflict"))
        before = {k: plan[k].copy() for k in plan if k.endswith(("_row", "_orig"))}
        for r, mi in zip(rows, mods, strict=True):
            m = MODALITIES[mi]
            src = classes.next_class_id(int(plan["class_id"][r])) * n_pc + r % n_pc
            plan[f"{m}_row"][r] = before[f"{m}_row"][src]
            plan[f"{m}_orig"][r] = before[f"{m}_orig"][src]
            plan[f"{m}_switched"][r] = False  # put there by conflict, not by label noise
            plan["conflict_modality"][r] = m
    _inject(plan, split, split, defn, inp, seed, draws)
    return plan


def _inject(plan: dict[str, Any], flag: str, split: str, defn: Any, inp: Inputs, seed: int, draws: str) -> None:
    """Missing modalities, sample noise and joint noise, as configured for split `flag`.

    `flag` is the split whose settings apply (OOD uses the test settings, as LUMA perturbs test
    and OOD alike); `split` keys the random draws, so OOD draws are independent of test draws;
    `draws` is the variant's key (`Variants.draws_key`).
    """
    fam = defn.family
    n = len(plan["class_id"])
    if fam == "missing":
        rates = {m: getattr(getattr(defn.rate, m), flag) for m in MODALITIES}
        dropped = al.missing_mask(n, rates, rng(seed, STAGE, draws, "missing", split))
        for m in MODALITIES:
            plan[f"{m}_row"][dropped[m]] = -1
            plan[f"{m}_switched"][dropped[m]] = False
    if fam == "sample_noise":
        for m in MODALITIES:
            cfg = getattr(defn, m)
            if getattr(cfg, flag) and cfg.ratio > 0:
                r = rng(seed, STAGE, draws, "noise", split, m)
                rows = r.choice(n, size=round(cfg.ratio * n), replace=False)
                _assign_noise(plan, m, np.sort(rows), r, cfg, inp)
    if fam == "joint" and getattr(defn, flag) and defn.ratio > 0:
        r = rng(seed, STAGE, draws, "joint", split)
        rows = np.sort(r.choice(n, size=round(defn.ratio * n), replace=False))
        _assign_noise(plan, "image", rows, r, _Joint(list(IMAGE_CORRUPTIONS), defn.severity), inp)
        _assign_noise(plan, "audio", rows, r, _JointAudio(defn.min_snr_db, defn.max_snr_db), inp)
        _assign_noise(plan, "text", rows, r, _JointText(list(JOINT_TEXT)), inp)


@dataclass
class _Joint:
    corruptions: list[str]
    severity: int


@dataclass
class _JointAudio:
    min_snr_db: float
    max_snr_db: float


@dataclass
class _JointText:
    perturbations: list[str]


def _assign_noise(
    plan: dict[str, Any], m: str, rows: np.ndarray, r: np.random.Generator, cfg: Any, inp: Inputs
) -> None:
    if m == "image":
        if not cfg.corruptions:
            raise ParamsError("image.corruptions is empty", fix="list at least one corruption")
        names = np.asarray(cfg.corruptions, dtype=object)[r.integers(0, len(cfg.corruptions), size=len(rows))]
        plan["image_noise"][rows] = names
        plan["image_severity"][rows] = cfg.severity
    elif m == "audio":
        plan["audio_noise"][rows] = r.integers(0, len(inp.bank()), size=len(rows))
        plan["audio_snr_db"][rows] = r.uniform(cfg.min_snr_db, cfg.max_snr_db, size=len(rows)).astype(np.float32)
    else:
        if not cfg.perturbations:
            raise ParamsError("text.perturbations is empty", fix="list at least one perturbation")
        kinds = np.asarray(cfg.perturbations, dtype=object)[r.integers(0, len(cfg.perturbations), size=len(rows))]
        plan["text_noise"][rows] = kinds


# ------------------------------------------------------------------ materialise
def is_rgb8_png(data: bytes) -> bool:
    """Whether `data` starts like a PNG of 8-bit RGB pixels (what `png_bytes` writes)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data[24:26] == b"\x08\x02"


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def materialise(split: str, plan: dict[str, Any], inp: Inputs, params: Params, variant: str, defn: Any) -> pa.Table:
    """Turn a row plan into the VARIANT_ROWS table (media bytes, ids, provenance)."""
    seed = params.seed
    draws = params.variants.draws_key(variant)
    n = len(plan["class_id"])
    present = {m: plan[f"{m}_row"] >= 0 for m in MODALITIES}
    # images
    img_rows = plan["image_row"]
    images: list[bytes | None] = [None] * n
    have = np.nonzero(present["image"])[0]
    noisy = have[plan["image_noise"][have] != None]  # noqa: E711
    for i in progress(np.setdiff1d(have, noisy), f"{split}: images", unit="img"):
        images[i] = inp.stored("image", int(img_rows[i])) or png_bytes(inp.image(int(img_rows[i])))
    if len(noisy):
        arr = corrupt(
            np.stack([inp.image(int(img_rows[i])) for i in noisy]), list(plan["image_noise"][noisy]),
            list(plan["image_severity"][noisy]), rng(seed, STAGE, draws, "image-noise", split),
        )  # fmt: skip
        for k, i in enumerate(progress(noisy, f"{split}: noisy images", unit="img")):
            images[i] = png_bytes(arr[k])
    # audio
    audio: list[bytes | None] = [None] * n
    r_audio = rng(seed, STAGE, draws, "audio-noise", split)
    for i in progress(np.nonzero(present["audio"])[0], f"{split}: audio", unit="clip"):
        if plan["audio_noise"][i] < 0:
            audio[i] = inp.stored("audio", int(plan["audio_row"][i])) or wav_bytes(inp.wave(int(plan["audio_row"][i])))
            continue
        w = inp.wave(int(plan["audio_row"][i]))
        seg = noise_segment(inp.bank().waves[int(plan["audio_noise"][i])], len(w), r_audio)
        w, _, _ = mix_at_snr(w, seg, float(plan["audio_snr_db"][i]))
        audio[i] = wav_bytes(w)
    # text
    tdf = inp.accepted["text"]
    texts: list[str | None] = [None] * n
    for i in np.nonzero(present["text"])[0]:
        texts[i] = str(tdf["text"].iat[int(plan["text_row"][i])])
    tn = [i for i in range(n) if plan["text_noise"][i] is not None and texts[i] is not None]
    if tn:
        heavy = bool(getattr(getattr(defn, "text", None), "heavy", False))
        mask_rate = float(getattr(getattr(defn, "text", None), "mask_rate", 0.1))
        rngs = rng(seed, STAGE, draws, "text-noise", split).spawn(len(tn))
        device = "cuda" if params.profile == "full" and _cuda() else "cpu"
        new = perturb_texts(
            [texts[i] for i in tn], [plan["text_noise"][i] for i in tn], rngs, heavy, params.profile, device, mask_rate
        )
        for i, t in zip(tn, new, strict=True):
            texts[i] = t
    # ids and provenance
    ids = {}
    for m in MODALITIES:
        col = inp.accepted[m][ID_COLUMN[m]].astype(str).to_numpy()
        rows = plan[f"{m}_row"]
        ids[m] = [str(col[r]) if r >= 0 else None for r in rows]
    names = np.asarray(classes.NAMES, dtype=object)
    cid = plan["class_id"]
    pos_in_class = _positions(cid)
    bank = inp.bank() if (plan["audio_noise"] >= 0).any() else None
    switched_mods = [[m for m in MODALITIES if plan[f"{m}_switched"][i]] for i in range(n)]
    row_label = list(names[cid])
    sev = np.where(plan["image_severity"] > 0, plan["image_severity"], 0).astype(np.int8)
    cols = {
        "sample_id": [f"{split}-{int(c):02d}-{int(p):04d}" for c, p in zip(cid, pos_in_class, strict=True)],
        "split": [split] * n,
        "label": row_label,
        "class_id": cid.astype(np.int32),
        "image": [media_cell(b) for b in images],
        "audio": [media_cell(b) for b in audio],
        "text": texts,
        "image_id": ids["image"],
        "clip_id": ids["audio"],
        "text_id": ids["text"],
        "image_noise": list(plan["image_noise"]),
        "image_severity": pa.array(sev, pa.int8(), mask=sev == 0),
        "audio_noise": [bank.names[int(k)] if k >= 0 and bank else None for k in plan["audio_noise"]],
        "audio_snr_db": pa.array(
            plan["audio_snr_db"].astype(np.float32), pa.float32(), mask=np.isnan(plan["audio_snr_db"])
        ),
        "text_noise": list(plan["text_noise"]),
        "label_original": [None if sw else lb for sw, lb in zip(switched_mods, row_label, strict=True)],
        "image_label_original": list(names[plan["image_orig"]]),
        "audio_label_original": list(names[plan["audio_orig"]]),
        "text_label_original": list(names[plan["text_orig"]]),
        "switched_modalities": switched_mods,
        "label_switched": [bool(sw) for sw in switched_mods],
        "conflict_modality": list(plan["conflict_modality"]),
        "missing_modalities": [[m for m in MODALITIES if not present[m][i]] for i in range(n)],
    }
    arrays = {k: v if isinstance(v, pa.Array) else pa.array(v, VARIANT_ROWS.field(k).type) for k, v in cols.items()}
    return pa.table({f.name: arrays[f.name] for f in VARIANT_ROWS})


def _positions(cid: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cid), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, c in enumerate(cid):
        out[i] = seen.get(int(c), 0)
        seen[int(c)] = out[i] + 1
    return out


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


def build(params: Params, paths: Paths, variant: str, inputs: Inputs | None = None) -> Path:
    """Build `variant` into data/<profile>/variants/<variant>/ atomically; return the directory."""
    defn = params.variants.resolve(variant)
    inp = inputs or load_inputs(params, paths)
    tables = {}
    switch_stats: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        switch_stats[split] = {}
        plan = _split_plan(split, defn, inp, params, variant, switch_stats[split])
        tables[split] = materialise(split, plan, inp, params, variant, defn)
        log.info("%s/%s: %d rows", variant, split, tables[split].num_rows)
    _check_disjoint(tables)
    meta = {
        "variant": variant,
        "family": defn.family,
        "definition": defn.model_dump(mode="json"),
        "seed": params.seed,
        "profile": params.profile,
        "rows": {s: t.num_rows for s, t in tables.items()},
    }
    if defn.family == "label_noise":
        meta["label_switch"] = {s: st for s, st in switch_stats.items() if st}
    manifest = read_parquet(paths.manifest, fix="re-run `lumabench corpora`").select(["path", "licence"]).to_pandas()
    sizes = {"train_per_class": params.variants.train_per_class, "test_per_class": params.variants.test_per_class}
    readme = card.render({**meta, **sizes}, tables, card.licence_counts(tables, inp.accepted, manifest))
    out = paths.variant(variant)
    with atomic_dir(out) as tmp:
        for split, table in tables.items():
            write_parquet(tmp / f"{split}.parquet", table, VARIANT_ROWS)
        (tmp / "variant.json").write_text(dumps_json(meta), "utf-8")
        (tmp / "README.md").write_text(readme, "utf-8")
    return out


def _check_disjoint(tables: dict[str, pa.Table]) -> None:
    """No source item may appear in two splits (conflict reuses items within test only)."""
    for col in ("image_id", "clip_id", "text_id"):
        seen: dict[str, str] = {}
        for split, t in tables.items():
            for i in set(t.column(col).drop_null().to_pylist()):
                if i in seen and seen[i] != split:
                    raise RuntimeError(f"{col} {i!r} is in both {seen[i]} and {split}")
                seen[i] = split
