"""Forced alignment with a wav2vec2 character CTC model (full profile; GPU when present, else CPU).

The model's per-frame character log-probabilities are aligned to the transcript's characters by
`torchaudio.functional.forced_align` (Viterbi over the CTC topology, Graves et al. 2006), with the
word separator "|" between words; a word spans from its first to its last character frame.
Weights are never downloaded here: the corpora stage fetches them into the cache.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lumabench.audio.align_types import AlignmentError, WordSpan
from lumabench.devices import resolve_device
from lumabench.errors import MissingDependencyError
from lumabench.params import SAMPLE_RATE

_SEPARATOR = "|"


def weights_file(model_name: str, model_dir: Path) -> Path:
    """Where the cached weights of torchaudio bundle `model_name` must be."""
    import torchaudio

    bundle = getattr(torchaudio.pipelines, model_name, None)
    if bundle is None or not hasattr(bundle, "get_labels"):
        raise MissingDependencyError(
            f"{model_name!r} is not a torchaudio wav2vec2 CTC bundle",
            None,
            "set audio.aligner_model to e.g. WAV2VEC2_ASR_BASE_960H",
        )
    return model_dir / Path(bundle._path).name


def ctc_word_spans(
    log_probs: Any, words: list[str], labels: tuple[str, ...], blank: int, seconds_per_frame: float
) -> list[WordSpan]:
    """Align `words` to CTC log-probabilities [T, C]; spans in seconds, score = mean log-prob of the word's frames."""
    import torch
    import torchaudio.functional as F

    index = {c: i for i, c in enumerate(labels)}
    targets: list[int] = []
    owner: list[int] = []
    for wi, word in enumerate(words):
        chars = [c for c in word.upper() if c in index]
        if not chars:
            raise AlignmentError(f"word {word!r} has no character the model knows")
        if targets and _SEPARATOR in index:
            targets.append(index[_SEPARATOR])
            owner.append(-1)
        targets.extend(index[c] for c in chars)
        owner.extend([wi] * len(chars))
    n_frames = int(log_probs.shape[0])
    if len(targets) > n_frames:
        raise AlignmentError(f"audio too short: {n_frames} frames for {len(targets)} characters")
    emission = log_probs.unsqueeze(0).float().cpu()
    tgt = torch.tensor([targets], dtype=torch.int32)
    aligned, scores = F.forced_align(emission, tgt, blank=blank)
    spans = F.merge_tokens(aligned[0], scores[0])
    if len(spans) != len(targets):
        raise AlignmentError(f"alignment found {len(spans)} of {len(targets)} characters")
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    logp: dict[int, list[float]] = {}
    for span, wi in zip(spans, owner, strict=True):
        if wi < 0:
            continue
        first.setdefault(wi, span.start)
        last[wi] = span.end
        logp.setdefault(wi, []).append(float(span.score))
    return [
        WordSpan(w, first[i] * seconds_per_frame, last[i] * seconds_per_frame, float(np.mean(logp[i])))
        for i, w in enumerate(words)
    ]


class CtcAligner:
    """A loaded wav2vec2 CTC model on the GPU (if present) or the CPU."""

    name = "ctc"

    def __init__(self, model_name: str, model_dir: Path, device: str = "auto") -> None:
        import torchaudio

        weights = weights_file(model_name, model_dir)
        if not weights.is_file():
            raise MissingDependencyError(
                f"weights of the alignment model {model_name} are not in the cache",
                weights,
                "run `lumabench --set profile=full corpora` on a machine with network (it downloads them), "
                "or copy the file there",
            )
        self.device = resolve_device(device, "the CTC aligner device")
        bundle = getattr(torchaudio.pipelines, model_name)
        self.labels: tuple[str, ...] = tuple(bundle.get_labels())
        self.model = bundle.get_model(dl_kwargs={"model_dir": str(model_dir), "progress": False}).to(device).eval()

    def missing_words(self, words: list[str]) -> list[str]:
        """Words with no character the model can emit (every other word can be aligned)."""
        known = set(self.labels)
        return sorted({w for w in words if not any(c in known for c in w.upper())})

    def align(self, audio: np.ndarray, words: list[str], noise: np.random.Generator) -> list[WordSpan]:
        """Time span of every word of `words` in `audio` (float mono at 16 kHz); `noise` is unused."""
        import torch

        del noise  # the neural model needs no noise floor; the argument keeps aligners interchangeable
        if not words:
            raise AlignmentError("empty transcript")
        with torch.inference_mode():
            wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0).to(self.device)
            emission, _ = self.model(wave)
            log_probs = torch.log_softmax(emission[0].float(), dim=-1).cpu()
        seconds_per_frame = len(audio) / SAMPLE_RATE / max(1, log_probs.shape[0])
        spans = ctc_word_spans(log_probs, words, self.labels, 0, seconds_per_frame)
        return [s if math.isfinite(s.score) else WordSpan(s.word, s.start_s, s.end_s, -1e9) for s in spans]
