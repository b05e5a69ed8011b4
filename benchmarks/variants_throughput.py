"""Throughput of every variant operation (rows/s), on synthetic inputs of LUMA's sizes.

Run: .venv/bin/python benchmarks/variants_throughput.py [--quick]
Reference tool on a 2-core CPU (issue 6): label switching 34 s for 4,200 rows; image corruptions
about 1.9 ms per 32×32 image on average over the 14 non-frost types (glass blur 15.7 ms); audio
background mixing 4.2 ms per clip.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from lumabench.audio.clips import wav_bytes
from lumabench.params import IMAGE_CORRUPTIONS
from lumabench.variants import image_noise, text_noise
from lumabench.variants.audio_noise import mix_at_snr, noise_segment
from lumabench.variants.label_noise import switch_labels
from lumabench.variants.sampling import diverse_sample

REF_LABEL_S = 34.0
REF_IMAGE_MS = 1.9
REF_GLASS_MS = 15.7
REF_AUDIO_MS = 4.2


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def row(op: str, rows: int, seconds: float, note: str = "") -> None:
    print(f"{op:34s} {rows:>7d} rows {seconds * 1e3:>10.2f} ms {rows / seconds:>12.0f} rows/s  {note}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller batches")
    args = ap.parse_args()
    r = np.random.default_rng(0)

    print("# label switching (nearest class, k=5, rate 0.3, 384-d features)")
    for n_per in (24, 100, 500):
        n = 42 * n_per
        centres = r.normal(0, 1, (42, 384))
        y = np.repeat(np.arange(42), n_per)
        f = (centres[y] + r.normal(0, 1, (n, 384))).astype(np.float32)
        s = timed(lambda f=f, y=y: switch_labels(f, y, 0.3, 42, np.random.default_rng(1)))
        note = f"reference 34 s → {REF_LABEL_S / s:.0f}× faster" if n == 4200 else ""
        row(f"switch_labels N={n}", n, s, note)

    print("# image corruptions, severity 3, batch of 32×32 images")
    b = 256 if args.quick else 1024
    base = r.integers(0, 256, (b, 8, 8, 3)).astype(np.uint8)
    imgs = np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)
    imgs = np.clip(imgs.astype(np.int16) + r.integers(-20, 21, imgs.shape), 0, 255).astype(np.uint8)
    per = {}
    for name in IMAGE_CORRUPTIONS:
        image_noise.corrupt_batch(imgs[:8], name, 3, np.random.default_rng(0))  # warm caches (frost bank, disks)
        s = timed(lambda name=name: image_noise.corrupt_batch(imgs, name, 3, np.random.default_rng(0)), 2)
        per[name] = s / b * 1e3
        row(name, b, s, f"{per[name]:.3f} ms/image")
    mean14 = float(np.mean([v for k, v in per.items() if k != "frost"]))
    print(
        f"mean over the 14 non-frost types: {mean14:.3f} ms/image "
        f"(reference {REF_IMAGE_MS} ms → {REF_IMAGE_MS / mean14:.1f}×)"
    )
    g = per["frosted_glass_blur"]
    print(f"glass blur: {g:.3f} ms/image (reference {REF_GLASS_MS} ms → {REF_GLASS_MS / g:.0f}×)")
    sev = {
        s: timed(lambda s=s: image_noise.corrupt_batch(imgs, "zoom_blur", s, np.random.default_rng(0))) / b * 1e3
        for s in (1, 5)
    }
    print(f"zoom_blur severity 1 / 5: {sev[1]:.3f} / {sev[5]:.3f} ms/image (slowest type)")

    print("# audio mixing at an exact SNR (0.5 s clips, 16 kHz)")
    n = 500 if args.quick else 2000
    clips = [(0.1 * r.normal(size=8000)).astype(np.float32) for _ in range(n)]
    bank = [(0.1 * r.normal(size=16000 * 5)).astype(np.float32) for _ in range(8)]
    snrs = r.uniform(3, 10, n)

    def mix_all(encode: bool) -> None:
        rr = np.random.default_rng(2)
        for i, c in enumerate(clips):
            m, _, _ = mix_at_snr(c, noise_segment(bank[i % 8], len(c), rr), float(snrs[i]))
            if encode:
                wav_bytes(m)

    s = timed(lambda: mix_all(False))
    row(
        "mix_at_snr",
        n,
        s,
        f"{s / n * 1e3:.3f} ms/clip (reference {REF_AUDIO_MS} ms → {REF_AUDIO_MS / (s / n * 1e3):.0f}×)",
    )
    s = timed(lambda: mix_all(True))
    row("mix_at_snr + 16-bit WAV encode", n, s, f"{s / n * 1e3:.3f} ms/clip")

    print("# text perturbations (about 60-word texts)")
    words = [
        "the",
        "old",
        "horse",
        "walked",
        "slowly",
        "across",
        "the",
        "green",
        "field",
        "while",
        "happy",
        "children",
        "laughed",
        "at",
        "a",
        "big",
        "brown",
        "dog",
    ]
    texts = [" ".join(r.choice(words, 60)).capitalize() + "." for _ in range(200)]
    text_noise.synonym(texts[0], np.random.default_rng(0))  # load the WordNet indexes once
    text_noise.antonym(texts[0], np.random.default_rng(0))
    for kind, fn in text_noise.PERTURBATIONS.items():
        s = timed(lambda fn=fn: [fn(t, np.random.default_rng(i), True) for i, t in enumerate(texts)])
        row(f"text {kind}", len(texts), s)

    print("# compactness sampling (one class: 500 of 600, 10 draws)")
    f = r.normal(size=(600, 384))
    s = timed(lambda: diverse_sample(f, 500, 20, 10, np.random.default_rng(0)))
    row("diverse_sample", 500, s)


if __name__ == "__main__":
    main()
