"""Throughput (images/s) of fine-tuning and embedding the image CNN (features/finetune.py).

Random uint8 32×32 images and a random-init ResNet-18 standing in for the ImageNet checkpoint
(speed does not depend on the weights), written to a temporary TORCH_HOME. Prints, per input
size, fine-tuning images/s (forward + backward + SGD step, augmentation and resizing included)
and embedding images/s, and what 3 epochs on the full profile's image train pool would take.

    .venv/bin/python benchmarks/features_finetune.py                       # CUDA when present, else CPU
    .venv/bin/python benchmarks/features_finetune.py --device cpu --images 256 --sizes 32 64
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from lumabench.determinism import deterministic
from lumabench.features import finetune, pretrained

log = logging.getLogger("benchmarks.features_finetune")
# CIFAR-10 train images of 6 in-distribution classes + CIFAR-100 train images of 36 (LUMA-SPEC §1–2)
FULL_TRAIN_POOL = 6 * 5000 + 36 * 500


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--images", type=int, default=None, help="images per measurement (default: 8192 CUDA, 256 CPU)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("LUMABENCH_PROGRESS", "0")
    n = args.images or (8192 if args.device.startswith("cuda") else 256)
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % 42
    with tempfile.TemporaryDirectory() as home:
        ckpt = Path(home) / "hub" / "checkpoints" / pretrained.RESNET_FILE
        ckpt.parent.mkdir(parents=True)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            torch.save(torchvision.models.resnet18().state_dict(), ckpt)
        os.environ["TORCH_HOME"] = home
        dev = torch.device(args.device)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        print(f"device: {name}; {n} images, batch {args.batch_size}")
        for size in args.sizes:
            net = pretrained.load_resnet18()
            kw = {"device": args.device, "batch_size": args.batch_size, "size": size}
            with deterministic():
                finetune.finetune(
                    net, images[: 2 * args.batch_size], labels[: 2 * args.batch_size], epochs=1, lr=0.01, seed=0, **kw
                )
                _sync(args.device)
                t = time.perf_counter()
                finetune.finetune(net, images, labels, epochs=1, lr=0.01, seed=0, **kw)
                _sync(args.device)
                train_rate = n / (time.perf_counter() - t)
                t = time.perf_counter()
                finetune.embed(net, images, **kw)
                _sync(args.device)
                embed_rate = n / (time.perf_counter() - t)
            full = 3 * FULL_TRAIN_POOL / train_rate
            print(
                f"size {size:3d}: fine-tune {train_rate:8.0f} img/s, embed {embed_rate:8.0f} img/s; "
                f"3 epochs on {FULL_TRAIN_POOL} train-pool images ≈ {full / 60:.1f} min"
            )


if __name__ == "__main__":
    main()
