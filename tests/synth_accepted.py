"""A small synthetic stage-4 output (accepted/ + noise bank) for the features and variants tests.

Images: a class colour with a class-dependent stripe pattern plus noise; audio: a class tone with
a harmonic and a noise floor; texts: sentences that name the class word among filler words. Same
schemas and paths as the real stages, so the stages run on it unchanged.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pyarrow as pa
import soundfile as sf
from PIL import Image

from lumabench import classes
from lumabench.io import write_parquet
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, IMAGES, MANIFEST

FILLER = (
    "the", "a", "small", "large", "quiet", "bright", "old", "new", "near", "far", "river", "hill", "morning",
    "evening", "light", "shadow", "stone", "wooden", "garden", "street", "window", "picture", "story", "people",
    "walk", "look", "see", "find", "happy", "calm", "green", "blue", "red", "yellow"
)  # fmt: skip
SR = 16000


def _image(cid: int, r: np.random.Generator) -> np.ndarray:
    rgb = np.array(colorsys.hsv_to_rgb((cid * 0.137) % 1.0, 0.4 + 0.5 * ((cid * 7) % 5) / 4, 0.5 + 0.1 * (cid % 5)))
    yy, xx = np.mgrid[0:32, 0:32]
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(cid) + yy * np.sin(cid)) * (0.3 + 0.05 * (cid % 6)))
    img = rgb[None, None, :] * (0.6 + 0.4 * stripes[..., None]) + r.normal(0, 0.06, (32, 32, 3))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _clip(cid: int, r: np.random.Generator) -> np.ndarray:
    dur = r.uniform(0.3, 0.6)
    t = np.arange(int(dur * SR)) / SR
    f0 = 150 + 37 * cid * r.uniform(0.98, 1.02)
    env = np.sin(np.pi * t / dur) ** 2
    x = env * (np.sin(2 * np.pi * f0 * t) + 0.4 * np.sin(2 * np.pi * 2.5 * f0 * t)) * 0.2
    return (x + r.normal(0, 0.004, len(t))).astype(np.float32)


def _text(name: str, r: np.random.Generator) -> str:
    words = list(r.choice(FILLER, size=int(r.integers(12, 20))))
    words.insert(int(r.integers(0, len(words))), name)
    words.insert(int(r.integers(0, len(words))), name)
    s = " ".join(words)
    return s[0].upper() + s[1:] + ". The " + name + " was seen there."


def make(
    root: Path, per_class: int = 16, image_test: int = 5, ood: int = 4, noise_files: int = 3, seed: int = 0
) -> Paths:
    """Write data/mini/{raw,interim/accepted} under `root`; return its Paths."""
    paths = Paths(root, "mini")
    r = np.random.default_rng(seed)
    img_dir = paths.raw / "images"
    wav_dir = paths.audio / "clips"
    img_dir.mkdir(parents=True, exist_ok=True)
    wav_dir.mkdir(parents=True, exist_ok=True)
    imgs, clips, texts, manifest = [], [], [], []
    for c in classes.CLASSES:
        n_img = ood if c.ood else per_class + image_test
        n = ood if c.ood else per_class
        for k in range(n_img):
            p = img_dir / f"{c.name}_{k:03d}.png"
            Image.fromarray(_image(c.id, r)).save(p)
            pool = "ood" if c.ood else ("test" if k < image_test else "train")
            imgs.append(
                {
                    "image_id": f"img-{c.name}-{k:03d}",
                    "label": c.name,
                    "pool": pool,
                    "source": "mini",
                    "path": str(p.relative_to(root)),
                }
            )
        for k in range(n):
            p = wav_dir / f"{c.name}_{k:03d}.wav"
            w = _clip(c.id, r)
            sf.write(p, w, SR, subtype="PCM_16")
            clips.append(
                {
                    "clip_id": f"clip-{c.name}-{k:03d}",
                    "label": c.name,
                    "corpus": "synth",
                    "speaker": f"s{k % 4}",
                    "source_path": "synth",
                    "start_s": 0.0,
                    "end_s": len(w) / SR,
                    "duration_s": len(w) / SR,
                    "sample_rate": SR,
                    "path": str(p.relative_to(root)),
                    "align_score": 0.0,
                }
            )
            texts.append(
                {
                    "text_id": f"txt-{c.name}-{k:03d}",
                    "label": c.name,
                    "prompt_id": 0,
                    "prompt": "synth",
                    "text": _text(c.name, r),
                    "backend": "synth",
                    "model": "synth",
                    "seed": seed,
                }
            )
    noise_dir = paths.raw / "noise"
    noise_dir.mkdir(parents=True, exist_ok=True)
    for k in range(noise_files):
        p = noise_dir / f"noise_{k}.wav"
        rate = 22050 if k == 0 else SR  # one file at another rate: the bank must resample it
        base = r.normal(0, 0.1, rate * 2)
        if k == 2:
            base = np.convolve(base, np.ones(8) / 8, mode="same")
        sf.write(p, base.astype(np.float32), rate, subtype="PCM_16")
        manifest.append(
            {
                "corpus": "synth-noise",
                "kind": "noise",
                "path": str(p.relative_to(root)),
                "bytes": p.stat().st_size,
                "sha256": "0" * 64,
                "licence": "CC0",
                "label": None,
                "pool": None,
                "transcript": None,
                "speaker": None,
                "engine": None,
                "word_timings": None,
            }
        )
    write_parquet(paths.manifest, pa.Table.from_pylist(manifest, MANIFEST), MANIFEST)
    write_parquet(paths.accepted / "image.parquet", pa.Table.from_pylist(imgs, IMAGES), IMAGES)
    write_parquet(paths.accepted / "audio.parquet", pa.Table.from_pylist(clips, CLIPS), CLIPS)
    write_parquet(paths.accepted / "text.parquet", pa.Table.from_pylist(texts, GENERATED), GENERATED)
    return paths


def write_cheap_features(paths: Paths) -> None:
    """Features without the sentence encoder (fast): stage-5 image/audio extractors, hashed words for text.

    The variants tests need a feature space, not MiniLM; test_features.py covers the real encoder.
    """
    import zlib

    from lumabench.features import handcrafted
    from lumabench.features.inputs import load_images, load_waves, read_accepted
    from lumabench.schemas import FEATURE_IDS

    acc = read_accepted(paths)
    paths.features.mkdir(parents=True, exist_ok=True)
    img = handcrafted.image_features(load_images(acc["image"]["path"], paths.root))
    aud = np.stack([handcrafted.audio_features(w) for w in load_waves(acc["audio"]["path"], paths.root)])
    txt = np.zeros((len(acc["text"]), 128), np.float32)
    for i, t in enumerate(acc["text"]["text"]):
        for w in t.lower().replace(".", "").split():
            txt[i, zlib.crc32(w.encode()) % 128] += 1.0
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    for m, f in (("image", img), ("audio", handcrafted.zscore(aud, np.ones(len(aud), bool))), ("text", txt)):
        np.save(paths.features / f"{m}.npy", f.astype(np.float32))
        ids = pa.table({"id": acc[m]["id"].tolist(), "label": acc[m]["label"].tolist()})
        write_parquet(paths.features / f"{m}.parquet", ids, FEATURE_IDS)
