"""A small synthetic but learnable variant in the VARIANT_ROWS layout, for the training tests.

Images carry a class colour and stripe period, audio a class tone, texts class-specific words (and
the class name itself, which the reader must mask). OOD classes use colours, tones and words no
in-distribution class uses, so a working method separates them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import soundfile as sf
from PIL import Image

from lumabench import classes as luma_classes
from lumabench import io as lio
from lumabench.native import media_cell
from lumabench.schemas import VARIANT_ROWS
from lumabench.seeding import rng

SR = 16000
ID_CLASSES = (0, 1, 2, 3, 4)
OOD_CLASSES = (42, 43)
_WORDS = {
    0: ["granite", "anchor", "copper"],
    1: ["violet", "meadow", "lantern"],
    2: ["harbor", "thunder", "marble"],
    3: ["saffron", "glacier", "velvet"],
    4: ["cobalt", "orchard", "whistle"],
    42: ["quantum", "nebula", "cipher"],
    43: ["plasma", "vortex", "zenith"],
}
_FILLER = ["the", "a", "near", "with", "under", "quiet", "small", "old", "bright", "over"]


def quick_training(
    epochs: int, batch_size: int = 40, lr: float | None = 0.003, spectrogram: int | None = 32
) -> list[str]:
    """`--set` overrides for a few CPU epochs on a synthetic variant, without early stopping (its
    patience is the whole schedule) and without the wall-clock field, so reruns are byte-identical."""
    out = [f"train.max_epochs={epochs}", f"train.early_stopping_patience={epochs}", f"train.batch_size={batch_size}"]
    if lr is not None:
        out.append(f"train.lr={lr}")
    if spectrogram is not None:
        out += [f"train.n_mels={spectrogram}", f"train.frames={spectrogram}"]
    return [*out, "train.device=cpu", "train.record_seconds=false"]


def _image(cid: int, g: np.random.Generator) -> bytes:
    if cid in ID_CLASSES:
        k = ID_CLASSES.index(cid)
        colour = np.array([(k * 53) % 256, (k * 97 + 40) % 256, (k * 151 + 80) % 256], float)
        period = 2 + k
    else:
        colour = np.array([128.0, 128.0, 128.0]) + g.normal(0, 40, 3)
        period = 0
    img = np.tile(colour, (32, 32, 1))
    if period:
        rows = (np.arange(32) // period) % 2 == 0
        img[rows] *= 0.35
    else:
        img *= ((np.add.outer(np.arange(32), np.arange(32)) // 3) % 2 == 0)[..., None] * 0.6 + 0.4
    img += g.normal(0, 18, img.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _audio(cid: int, g: np.random.Generator) -> bytes:
    freq = 300.0 + 250.0 * ID_CLASSES.index(cid) if cid in ID_CLASSES else 3500.0 + 900.0 * OOD_CLASSES.index(cid)
    n = int(SR * g.uniform(0.3, 0.6))
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * freq * (1 + g.normal(0, 0.01)) * t) + g.normal(0, 0.02, n)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _text(cid: int, g: np.random.Generator) -> str:
    words = list(g.choice(_FILLER, 6)) + list(g.choice(_WORDS[cid], 3))
    g.shuffle(words)
    name = luma_classes.CLASSES[cid].name
    return f"{name.capitalize()}: " + " ".join(words) + f" and another {name}."


def write_variant(
    root: Path,
    variant: str = "clean",
    profile: str = "mini",
    train_per_class: int = 30,
    test_per_class: int = 10,
    ood_per_class: int = 10,
    missing: dict[str, float] | None = None,
    missing_train: bool = False,
    seed: int = 0,
) -> Path:
    """Write data/<profile>/variants/<variant>/{train,test,ood}.parquet under `root`; return the folder."""
    out = root / "data" / profile / "variants" / variant
    missing = missing or {}
    plan = {
        "train": [(c, train_per_class) for c in ID_CLASSES],
        "test": [(c, test_per_class) for c in ID_CLASSES],
        "ood": [(c, ood_per_class) for c in OOD_CLASSES],
    }
    for split, per in plan.items():
        rows: dict[str, list] = {n: [] for n in VARIANT_ROWS.names}
        for cid, count in per:
            for i in range(count):
                g = rng(seed, "synth", split, cid, i)
                name = luma_classes.CLASSES[cid].name
                gone = [
                    m
                    for m in ("image", "audio", "text")
                    if (missing_train or split != "train") and g.random() < missing.get(m, 0.0)
                ]
                if len(gone) == 3:
                    gone = gone[1:]
                rows["sample_id"].append(f"{split}-{cid:02d}-{i:04d}")
                rows["split"].append(split)
                rows["label"].append(name)
                rows["class_id"].append(cid)
                rows["image"].append(None if "image" in gone else media_cell(_image(cid, g)))
                rows["audio"].append(None if "audio" in gone else media_cell(_audio(cid, g)))
                rows["text"].append(None if "text" in gone else _text(cid, g))
                for k in ("image_id", "clip_id", "text_id"):
                    rows[k].append(f"{k}-{split}-{cid}-{i}")
                for k in ("image_noise", "image_severity", "audio_noise", "audio_snr_db", "text_noise"):
                    rows[k].append(None)
                for k in rows:
                    if k.endswith("label_original"):
                        rows[k].append(name)
                rows["switched_modalities"].append([])  # no label noise: every label is the true class
                rows["label_switched"].append(False)
                rows["conflict_modality"].append(None)
                rows["missing_modalities"].append(gone)
        n = len(rows["sample_id"])
        table = pa.table(
            {k: pa.array(v if len(v) == n else [None] * n, type=VARIANT_ROWS.field(k).type) for k, v in rows.items()}
        )
        lio.write_parquet(out / f"{split}.parquet", table, VARIANT_ROWS)
    return out
