"""Training and inference throughput (samples/s) of the stage-7 models on synthetic full-size tensors.

Shapes are the full profile's: image 3x32x32 (uint8), log-mel 1x128x128, text 384-d (MiniLM) or 768-d
(--text-dim 768). Settings are the LUMA baselines': batch 128, MC Dropout 100 samples, Deep Ensemble 10
members, heteroscedastic T = 100. Training = the stage's own step (`Method.train_step`: row gather,
forward, backward, Adam; one replayed CUDA graph with `--set cuda_graphs=true`); inference =
`predict_split` (all MC samples / members and σ draws included). Both run under deterministic
kernels, as the stage does, unless `--no-deterministic`.

    .venv/bin/python benchmarks/train_throughput.py                  # CPU, and CUDA when present
    .venv/bin/python benchmarks/train_throughput.py --device cpu --seconds 3
    .venv/bin/python benchmarks/train_throughput.py --device cuda --set cuda_graphs=true

Reference (LUMA reference implementation, 2-core CPU), train / test samples/s:
MCD image 838/59, MCD audio 66/1.6, MCD text 930/465, DE fused 5.1/22, RCML fused 51/101.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time

import numpy as np
import torch

from lumabench.data import Normaliser, SplitTensors
from lumabench.determinism import deterministic
from lumabench.methods.registry import load_all
from lumabench.params import MODALITIES, Train, parse_overrides
from lumabench.params import Method as MethodSpec

log = logging.getLogger("benchmarks.train_throughput")

MODELS = {
    "mcd_image": ("mc_dropout", ["image"]),
    "mcd_audio": ("mc_dropout", ["audio"]),
    "mcd_text": ("mc_dropout", ["text"]),
    "de_fused": ("deep_ensemble", ["image", "audio", "text"]),
    "rcml_fused": ("rcml", ["image", "audio", "text"]),
    "eau_fused": ("eau", ["image", "audio", "text"]),
    "mla_fused": ("mla", ["image", "audio", "text"]),
}
REFERENCE = {
    "mcd_image": (838, 59),
    "mcd_audio": (66, 1.6),
    "mcd_text": (930, 465),
    "de_fused": (5.1, 22),
    "rcml_fused": (51, 101),
}


def synthetic_split(n: int, text_dim: int, device: torch.device) -> SplitTensors:
    g = torch.Generator().manual_seed(0)
    return SplitTensors(
        sample_id=[str(i) for i in range(n)],
        label=["x"] * n,
        class_id=torch.randint(0, 42, (n,), generator=g),
        image=torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
        audio=torch.randn(n, 1, 128, 128, generator=g).to(torch.float16),
        text=torch.randn(n, text_dim, generator=g),
        present=torch.ones(n, len(MODALITIES), dtype=torch.bool),
    ).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    name: str, device: torch.device, seconds: float, text_dim: int, train: dict[str, object] | None = None
) -> tuple[float, float]:
    """(train samples/s, inference samples/s) of one model, each timed for about `seconds`.

    `train`: `params.train` settings over the defaults (e.g. cuda_graphs, ensemble_conv, amp).
    """
    kind, mods = MODELS[name]
    cfg = Train(**{"batch_size": 128, **(train or {})})
    spec = MethodSpec(kind=kind, modalities=mods)
    method = load_all()[kind](spec, cfg, 42, text_dim, device, 0, ("bench", name))
    norm = Normaliser(tuple(cfg.image_mean), tuple(cfg.image_std), 0.0, 1.0)  # type: ignore[arg-type]
    method.normaliser = norm
    n = 1024
    split = synthetic_split(n, text_dim, device)
    members = method.streams
    gen = torch.Generator().manual_seed(1)
    train_step = method.train_step(method.make_optimizer(), split, norm)  # the stage's own step

    def step() -> None:
        idx = torch.randint(0, n, (members, cfg.batch_size), generator=gen).to(device)
        train_step(idx[0] if members == 1 else idx, 1)

    method.module.train()
    # warm-up: allocations and first-touch page faults, kernel choice, CUDA-graph capture (at least 5
    # steps on CUDA); a few large CPU steps measured 1.5x slower when timed without it
    w0, warm = time.perf_counter(), 0
    while warm < (5 if device.type == "cuda" else 2) or time.perf_counter() - w0 < seconds / 2:
        step()
        warm += 1
    _sync(device)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or steps < 2:
        step()
        steps += 1
    _sync(device)
    train_rate = steps * cfg.batch_size / (time.perf_counter() - t0)

    rows = min(n, method.eval_batch_size())  # one prediction chunk of the stage's own size
    part = split.subset(np.arange(rows))
    method.predict_split(part, "warm-up")
    _sync(device)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or done == 0:
        method.predict_split(part, "bench")
        done += rows
    _sync(device)
    return train_rate, done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2 s)")
    ap.add_argument("--text-dim", type=int, default=384, choices=[384, 768])
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a params.train setting, e.g. cuda_graphs=true or ensemble_conv=members (repeatable)",
    )  # fmt: skip
    ap.add_argument("--no-deterministic", action="store_true", help="skip deterministic kernels (CUDA speed)")
    args = ap.parse_args()
    train = dict(parse_overrides(args.set))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    header = f"{'model':<11} {'device':<6} {'train/s':>9} {'ref':>7} {'x':>6} {'infer/s':>9} {'ref':>6} {'x':>7}"
    log.info("threads %d, text %d-d, train %s\n%s", torch.get_num_threads(), args.text_dim, train, header)
    for dev in devices:
        for name in args.models:
            with contextlib.nullcontext() if args.no_deterministic else deterministic():  # as the stage runs
                tr, inf = measure(name, torch.device(dev), args.seconds, args.text_dim, train)
            rt, ri = REFERENCE.get(name, (float("nan"), float("nan")))  # the reference tool has no MLA or EAU
            log.info(f"{name:<11} {dev:<6} {tr:>9.1f} {rt:>7} {tr / rt:>6.1f} {inf:>9.1f} {ri:>6} {inf / ri:>7.1f}")


if __name__ == "__main__":
    main()
