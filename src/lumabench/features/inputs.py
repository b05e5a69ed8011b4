"""Reading the accepted items (stage 4 output) and their media files, shared by features and variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lumabench import classes
from lumabench.audio.clips import load_mono
from lumabench.errors import InputError
from lumabench.io import read_image_rgb, read_parquet
from lumabench.params import MODALITIES
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, IMAGES

ID_COLUMN = {"image": "image_id", "audio": "clip_id", "text": "text_id"}
_SCHEMAS = {"image": IMAGES, "audio": CLIPS, "text": GENERATED}
_FIX = "re-run `lumabench annotate`"


def read_accepted(paths: Paths) -> dict[str, pd.DataFrame]:
    """accepted/{image,audio,text}.parquet as DataFrames sorted by id, with `id` and `class_id` columns."""
    out = {}
    for m in MODALITIES:
        path = paths.accepted / f"{m}.parquet"
        df = read_parquet(path, _SCHEMAS[m], _FIX).to_pandas()
        if df.empty:
            raise InputError(f"no accepted {m} items", path, _FIX)
        df["id"] = df[ID_COLUMN[m]].astype(str)
        if df["id"].duplicated().any():
            raise InputError(f"duplicate ids, e.g. {df['id'][df['id'].duplicated()].iloc[0]!r}", path, _FIX)
        unknown = sorted(set(df["label"]) - set(classes.NAMES))
        if unknown:
            raise InputError(f"unknown labels {unknown[:5]}", path, _FIX)
        df["class_id"] = df["label"].map(classes.class_id).astype(np.int64)
        out[m] = df.sort_values("id", kind="stable").reset_index(drop=True)
    return out


def load_image(path: Path) -> np.ndarray:
    """A PNG as uint8 [H, W, 3] RGB (oversized headers are refused before decoding)."""
    return read_image_rgb(path, _FIX)


def load_images(rel_paths: list[str] | pd.Series, root: Path) -> np.ndarray:
    """uint8 [N, H, W, 3] from image files relative to the project root (all the same size)."""
    arrays = [load_image(root / p) for p in rel_paths]
    if not arrays:
        return np.zeros((0, 32, 32, 3), np.uint8)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise InputError(f"accepted images differ in size: {sorted(shapes)[:3]}", root, _FIX)
    return np.stack(arrays)


def load_waves(rel_paths: list[str] | pd.Series, root: Path) -> list[np.ndarray]:
    """float32 mono 16 kHz waveforms from files relative to the project root."""
    return [load_mono(root / p) for p in rel_paths]
