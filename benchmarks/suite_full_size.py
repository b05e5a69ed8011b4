"""Wall time of the nine-model LUMA suite at full size: fit with early stopping, predict test and OOD.

Full-size LUMA is 16,800 train / 4,200 validation / 4,200 test / ~3,900 OOD rows over 42 classes.
This script builds synthetic tensors of exactly those shapes (image 3x32x32 uint8, log-mel 1x128x128,
BERT-size 768-d text) that carry a learnable but noisy class signal, so that early stopping behaves
as on real data (training runs until the validation loss stops improving), and runs every model of
params.yaml's full profile through the same `Method.fit` / `predict_split` / `train.score` code that
`lumabench train` runs. It prints, per model: epochs, fit seconds, seconds per epoch, prediction
seconds, accuracy and OOD AUROC; then the suite's total.

    .venv/bin/python benchmarks/suite_full_size.py                    # CUDA when present
    .venv/bin/python benchmarks/suite_full_size.py --device cpu --scale 0.05 --max-epochs 3
    .venv/bin/python benchmarks/suite_full_size.py --json suite.json  # also write the figures
    .venv/bin/python benchmarks/suite_full_size.py --parallel 3 --set train.cuda_graphs=true

`--scale` shrinks every split (for a quick look on a CPU); `--max-epochs` caps each fit (the table
then also shows what the measured seconds per epoch give for the epochs a model really ran).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
from pathlib import Path

import torch

from lumabench import classes
from lumabench.data import Normaliser, SplitTensors
from lumabench.determinism import deterministic
from lumabench.devices import resolve_device
from lumabench.params import MODALITIES, load_params
from lumabench.train import build_method, score

log = logging.getLogger("benchmarks.suite_full_size")

SIZES = {"train": 16_800, "val": 4_200, "test": 4_200, "ood": 3_900}
N_OOD_CLASSES = len(classes.CLASSES) - classes.N_ID


def _prototypes(seed: int, n_classes: int, text_dim: int, n_mels: int, frames: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(n_classes, 3, 8, 8, generator=g),
        "audio": torch.randn(n_classes, 1, 16, 16, generator=g),
        "text": torch.randn(n_classes, text_dim, generator=g),
    }


def synthetic_split(
    n: int, class_ids: torch.Tensor, protos: dict[str, torch.Tensor], n_mels: int, frames: int, seed: int
) -> SplitTensors:
    """Rows whose every modality is its class prototype (upsampled) under heavy noise."""
    g = torch.Generator().manual_seed(seed)
    img = torch.nn.functional.interpolate(protos["image"][class_ids], size=32, mode="bilinear")
    img = (img + 0.9 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    mel = torch.nn.functional.interpolate(protos["audio"][class_ids], size=(n_mels, frames), mode="bilinear")
    mel = mel + 3.0 * torch.randn(mel.shape, generator=g)
    txt = protos["text"][class_ids] + 4.0 * torch.randn(n, protos["text"].shape[1], generator=g)
    return SplitTensors(
        sample_id=[str(i) for i in range(n)],
        label=[classes.CLASSES[int(c)].name for c in class_ids],
        class_id=class_ids.clone(),
        image=(img * 255).round().to(torch.uint8),
        audio=mel.to(torch.float16),
        text=txt.float(),
        present=torch.ones(n, len(MODALITIES), dtype=torch.bool),
    )


def build_data(scale: float, text_dim: int, n_mels: int, frames: int) -> dict[str, SplitTensors]:
    n_all = len(classes.CLASSES)
    protos = _prototypes(0, n_all, text_dim, n_mels, frames)
    out = {}
    for i, (name, size) in enumerate(SIZES.items()):
        n = max(2 * classes.N_ID, round(size * scale))
        ids = classes.N_ID + torch.arange(n) % N_OOD_CLASSES if name == "ood" else torch.arange(n) % classes.N_ID
        out[name] = synthetic_split(n, ids, protos, n_mels, frames, seed=100 + i)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_models(args: argparse.Namespace, methods: list[str]) -> list[dict]:
    """Fit and predict `methods` one after another in this process; one figures row per model."""
    overrides = ["profile=full"] + ([f"train.max_epochs={args.max_epochs}"] if args.max_epochs else []) + args.set
    params = load_params(args.params, overrides)
    cfg = params.train
    device = torch.device(resolve_device(args.device, "--device"))
    t0 = time.perf_counter()
    data = build_data(args.scale, args.text_dim, cfg.n_mels, cfg.frames)
    log.info(
        "device %s (%s), rows %s, built in %.1f s, amp %s, deterministic %s, cuda_graphs %s, ensemble_conv %s",
        device, torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads",
        {k: len(v) for k, v in data.items()}, time.perf_counter() - t0, cfg.amp, not args.no_deterministic,
        cfg.cuda_graphs, cfg.ensemble_conv,
    )  # fmt: skip
    gpu = {k: v.to(device) for k, v in data.items()}
    normaliser = Normaliser.fit(data["train"], cfg)
    rows = []
    for name in methods:
        with deterministic() if not args.no_deterministic else contextlib.nullcontext():
            model = build_method(params, name, args.text_dim, device, params.run.seeds[0])
            _sync(device)
            report = model.fit(gpu["train"], gpu["val"], normaliser)
            _sync(device)
            t1 = time.perf_counter()
            pt = model.predict_split(gpu["test"], "test")
            po = model.predict_split(gpu["ood"], "ood")
            _sync(device)
            predict_s = time.perf_counter() - t1
        metrics = score(data["test"], data["ood"], pt, po)
        row = {
            "model": name,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "fit_s": round(report.seconds, 2),
            "s_per_epoch": round(report.seconds / max(1, report.epochs), 3),
            "predict_s": round(predict_s, 2),
            "acc": round(metrics["test"]["acc"], 4),
            "auroc_epistemic": metrics["ood"]["auroc_epistemic"],
        }
        rows.append(row)
        log.info(_line(row))
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _line(row: dict) -> str:
    auroc = row["auroc_epistemic"] if row["auroc_epistemic"] is not None else float("nan")
    return (
        f"{row['model']:<11} {row['epochs']:>6} {row['fit_s']:>8.1f} {row['s_per_epoch']:>8.3f} "
        f"{row['predict_s']:>9.2f} {row['acc']:>6.3f} {auroc:>6.3f}"
    )


def _worker(payload: tuple[argparse.Namespace, list[str]]) -> list[dict]:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("lumabench").setLevel(logging.WARNING)
    args, methods = payload
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, args.parallel)))
    return run_models(args, methods)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full split sizes (default 1)")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap on epochs per model (default: params)")
    ap.add_argument("--methods", nargs="*", default=None, help="subset of params.yaml methods")
    ap.add_argument("--text-dim", type=int, default=768)
    ap.add_argument("--no-deterministic", action="store_true", help="skip deterministic kernels (CUDA speed)")
    ap.add_argument("--parallel", type=int, default=1, help="models trained at once, one process each (same GPU)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a params override, e.g. train.cuda_graphs=true (repeatable)",
    )  # fmt: skip
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("lumabench").setLevel(logging.WARNING)
    methods = args.methods or list(load_params(args.params, ["profile=full"]).methods)
    log.info(f"{'model':<11} {'epochs':>6} {'fit s':>8} {'s/epoch':>8} {'predict s':>9} {'acc':>6} {'AUROC':>6}")
    suite_start = time.perf_counter()
    if args.parallel <= 1:
        rows = run_models(args, methods)
    else:
        import multiprocessing as mp

        # one model per task, the costliest (ensembles, audio) first so the slowest start at once
        order = sorted(methods, key=lambda m: (not m.startswith("de_"), "audio" not in m and "fused" not in m))
        with mp.get_context("spawn").Pool(args.parallel) as pool:
            rows = [r for part in pool.imap_unordered(_worker, [(args, [m]) for m in order]) for r in part]
    total = time.perf_counter() - suite_start
    log.info("suite: %d models in %.1f s (%.1f min), %d at a time", len(rows), total, total / 60, args.parallel)
    if args.json:
        out = {"scale": args.scale, "max_epochs": args.max_epochs, "parallel": args.parallel, "set": args.set}
        out["total_s"] = round(total, 1)
        args.json.write_text(json.dumps({**out, "models": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
