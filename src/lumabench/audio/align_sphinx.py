"""Forced alignment with pocketsphinx: offline, CPU, English model shipped in the wheel.

The transcript becomes a linear word grammar with optional silences; the Viterbi path through it
gives each word's first and last 10 ms frame. Settings that matter, measured on synthetic speech:
`bestpath=False` (the lattice rescoring pass is meant for recognition and can return a word
sequence that is not the transcript), wide beams (narrow ones prune the only grammatical path on
unusual voices and the search then fails to reach the final state; a file that still fails is
retried once with beams wider still, which rescues nearly all of them), and a faint seeded noise floor
added to the signal (digital silence between synthesised phones gives -inf log energies that
derail the cepstral features; the noise is ~70 dB below full scale and derived from the file's
seed, so output does not depend on processing order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lumabench.audio.align_types import AlignmentError, WordSpan

SAMPLE_RATE = 16000
_FRAME_RATE = 100  # pocketsphinx default: 10 ms frames
_NOISE_STD = 10.0  # in 16-bit units, about -70 dBFS
_DECODER_ARGS = {"samprate": SAMPLE_RATE, "lm": None, "bestpath": False, "loglevel": "FATAL"}
_BEAMS = {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100}
_WIDE_BEAMS = {"beam": 1e-200, "wbeam": 1e-200, "pbeam": 1e-200}


class SphinxAligner:
    """One loaded pocketsphinx decoder; create once per worker process (loading takes ~0.1 s)."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(**_DECODER_ARGS, **_BEAMS)
        self._wide: Decoder | None = None  # loaded on the first file that needs it

    def missing_words(self, words: list[str]) -> list[str]:
        """Words with no pronunciation in the model's dictionary (the file cannot be aligned)."""
        return sorted({w for w in words if self.decoder.lookup_word(w) is None})

    def align(self, audio: np.ndarray, words: list[str], noise: np.random.Generator) -> list[WordSpan]:
        """Time span of every word of `words` in `audio` (float mono at 16 kHz), in order."""
        if not words:
            raise AlignmentError("empty transcript")
        missing = self.missing_words(words)
        if missing:
            raise AlignmentError(f"words not in the pronunciation dictionary: {', '.join(missing)}")
        pcm = np.clip(audio.astype(np.float64) * 32767.0 + noise.normal(0.0, _NOISE_STD, audio.shape), -32768, 32767)
        data = np.round(pcm).astype("<i2").tobytes()
        try:
            return self._align(self.decoder, data, words)
        except AlignmentError:
            if self._wide is None:
                from pocketsphinx import Decoder

                self._wide = Decoder(**_DECODER_ARGS, **_WIDE_BEAMS)
            return self._align(self._wide, data, words)

    def _align(self, decoder: Any, data: bytes, words: list[str]) -> list[WordSpan]:
        try:
            # Feature state (cepstral mean, noise estimate) otherwise carries over from the previous
            # file, which would make a file's alignment depend on what the worker processed before.
            decoder.reinit_feat()
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(data, full_utt=True)
            decoder.end_utt()
        except RuntimeError as exc:
            raise AlignmentError(f"pocketsphinx failed: {exc}") from exc
        segments = [s for s in (decoder.seg() or []) if not _is_filler(s.word)]
        if len(segments) != len(words):
            raise AlignmentError(f"alignment covered {len(segments)} of {len(words)} words")
        spans = []
        for word, seg in zip(words, segments, strict=True):
            if seg.word.split("(")[0] != word:
                raise AlignmentError(f"alignment returned {seg.word!r} where {word!r} was expected")
            score = math.log(seg.ascore) if seg.ascore > 0 else -math.inf
            spans.append(WordSpan(word, seg.start_frame / _FRAME_RATE, (seg.end_frame + 1) / _FRAME_RATE, score))
        return spans


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word in {"<s>", "</s>", "<sil>"}
