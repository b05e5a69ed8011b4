"""Stage 5: embed every accepted item per modality, for diversity sampling and label switching.

Writes interim/features/{image,audio,text}.npy (float32 [N, D]) with {image,audio,text}.parquet
(FEATURE_IDS: id, label) in the same row order, and meta.json (extractors, dims, input hash and
the sha256 of every output file). A rerun whose accepted tables, `features` params and seed are
unchanged reuses the output, but only if every output file still has the recorded hash: a
damaged or replaced text.npy is rebuilt, never reported "up to date". Media paths come from the
accepted tables and must stay inside the project (`Paths.confine`).

Extractors (params `features`): mini uses hand-crafted image features, log-mel/MFCC audio
statistics (features/handcrafted.py says why) and the packaged MiniLM sentence encoder; full
uses an ImageNet ResNet-18 fine-tuned on the in-distribution train-pool images
(features/finetune.py), wav2vec2-large and BERT-base (features/pretrained.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

import numpy as np
import pyarrow as pa

from lumabench.devices import resolve_device
from lumabench.errors import LumabenchError
from lumabench.features import handcrafted, pretrained
from lumabench.features.inputs import MODALITIES, load_images, load_waves, read_accepted
from lumabench.io import atomic_dir, check_finite, dumps_json, read_json, sha256_file, write_parquet
from lumabench.logs import progress
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.schemas import FEATURE_IDS

log = logging.getLogger(__name__)
VERSION = 1


def fingerprint(params: Params, paths: Paths) -> str:
    """Hash of the accepted tables, the features params and the seed: equal hash, equal output.

    The seed is in because the fine-tuned image CNN (features.finetune_*) depends on it.
    """
    h = hashlib.sha256(f"features-v{VERSION}".encode())
    h.update(json.dumps(params.features.model_dump(mode="json"), sort_keys=True).encode())
    h.update(f"seed={params.seed}".encode())
    for m in MODALITIES:
        h.update((paths.accepted / f"{m}.parquet").read_bytes())
    return h.hexdigest()


OUTPUT_FILES = tuple(f"{m}.{ext}" for m in MODALITIES for ext in ("npy", "parquet"))


def _cached(paths: Paths, key: str) -> bool:
    """True when meta.json has this fingerprint and every output file still has its recorded sha256."""
    meta = paths.features / "meta.json"
    if not meta.is_file():
        return False
    try:
        old = read_json(meta, "")
    except LumabenchError:
        return False
    if not isinstance(old, dict) or old.get("fingerprint") != key:
        return False
    recorded = old.get("outputs")
    if not isinstance(recorded, dict):
        return False
    for name in OUTPUT_FILES:
        f = paths.features / name
        if not f.is_file() or recorded.get(name) != sha256_file(f):
            log.info("features: %s is missing or changed since it was written; rebuilding", f)
            return False
    return True


def _media_paths(df, modality: str, paths: Paths) -> list[str]:
    """The accepted items' file paths, each confined to the project (they come from a Parquet cell)."""
    source = paths.accepted / f"{modality}.parquet"
    return [str(paths.confine(p, f"{modality} path", source)) for p in df["path"]]


def embed_modality(modality: str, df, params: Params, paths: Paths, device: str) -> np.ndarray:
    """Features [N, D] float32 for the accepted items of one modality (rows in df order)."""
    cfg = params.features
    if modality == "image":
        images = load_images(_media_paths(df, "image", paths), paths.root)
        if cfg.image == "imagenet_cnn":
            from lumabench.features.finetune import training_rows

            return pretrained.imagenet_embed(
                images,
                device,
                cfg.batch_size,
                size=cfg.finetune_size,
                labels=df["class_id"].to_numpy(),
                train=training_rows(df),
                epochs=cfg.finetune_epochs,
                lr=cfg.finetune_lr,
                seed=params.seed,
            )
        feats = np.concatenate([handcrafted.image_features(images[s : s + 1024]) for s in range(0, len(images), 1024)])
        fit = (df["pool"] == "train").to_numpy()
        return handcrafted.zscore(feats, fit if fit.any() else np.ones(len(df), bool))
    if modality == "audio":
        waves = load_waves(_media_paths(df, "audio", paths), paths.root)
        if cfg.audio == "wav2vec2":
            return pretrained.wav2vec2_embed(waves, device)
        feats = np.stack([handcrafted.audio_features(w) for w in progress(waves, "audio features", unit="clip")])
        return handcrafted.zscore(feats, (df["class_id"] < 42).to_numpy())
    texts = df["text"].astype(str).tolist()
    if cfg.text == "bert":
        return pretrained.bert_embed(texts, device, cfg.batch_size, cfg.text_max_tokens)
    return pretrained.minilm_embed(texts, device, cfg.batch_size, cfg.text_max_tokens)


def run(params: Params, paths: Paths) -> None:
    """Embed image, audio and text items; write the three feature matrices atomically."""
    key = fingerprint(params, paths)
    if _cached(paths, key):
        log.info("features up to date (%s)", paths.features)
        return
    accepted = read_accepted(paths)
    device = resolve_device(params.features.device, "features.device")
    meta: dict = {"fingerprint": key, "version": VERSION, "modalities": {}}
    outputs = {}
    for m in MODALITIES:
        df = accepted[m]
        feats = np.ascontiguousarray(embed_modality(m, df, params, paths, device), dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] != len(df):
            raise LumabenchError(f"{m} features have shape {feats.shape} for {len(df)} items", paths.features)
        check_finite(feats, f"{m} features from the {getattr(params.features, m)} extractor", paths.features,
                     "check the accepted media (annotate) and the extractor's weights")  # fmt: skip
        outputs[m] = (df, feats)
        meta["modalities"][m] = {"extractor": getattr(params.features, m), "rows": len(df), "dim": int(feats.shape[1])}
        log.info("%s: %d items → %d-d features", m, len(df), feats.shape[1])
    with atomic_dir(paths.features) as tmp:
        for m, (df, feats) in outputs.items():
            buf = io.BytesIO()
            np.save(buf, feats, allow_pickle=False)
            (tmp / f"{m}.npy").write_bytes(buf.getvalue())
            table = pa.table({"id": df["id"].astype(str).tolist(), "label": df["label"].astype(str).tolist()})
            write_parquet(tmp / f"{m}.parquet", table, FEATURE_IDS)
        meta["outputs"] = {name: sha256_file(tmp / name) for name in OUTPUT_FILES}
        (tmp / "meta.json").write_text(dumps_json(meta), "utf-8")
