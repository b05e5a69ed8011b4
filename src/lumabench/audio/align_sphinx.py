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

Two more settings come from comparing the alignment with the engines' own word timings on the mini
corpus. `silprob` is 1e-4 rather than the default 5e-3: the transcript is known, and at the default
the optional silence between words absorbed up to 0.6 s of quiet, slow speech (a whole "at", the
"-el" of "camel"), shifting every later word. And a word's end is moved back over an echo tail:
espeak-ng voice variants with `echo 130 15` (en+f4, en-029+m2) add a copy of the last 130 ms at 15 %
amplitude after the speech stops, so a pause opens with a ~16 dB step down to an attenuated copy of
the word, which the acoustic model takes for more of the word (up to 150 ms late before a comma).
A word's trailing stretch that lies wholly `_TAIL_DB` below its loudest cell and >= `_ECHO_DROP_DB`
below the 20 ms just before it, and that is a copy of the audio one delay earlier (normalised
correlation >= 0.9 at some lag of 30-300 ms), is dropped from the word. A quiet word-final consonant
(a stop's closure and burst, a fading /l/) also lies far below the vowel but repeats nothing, so it
is kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lumabench.audio.align_types import AlignmentError, WordSpan
from lumabench.audio.clips import CELL_S, cell_db
from lumabench.params import SAMPLE_RATE

_FRAME_RATE = 100  # pocketsphinx default: 10 ms frames
_NOISE_STD = 10.0  # in 16-bit units, about -70 dBFS
_DECODER_ARGS = {"samprate": SAMPLE_RATE, "lm": None, "bestpath": False, "silprob": 1e-4, "loglevel": "FATAL"}
_BEAMS = {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100}
_WIDE_BEAMS = {"beam": 1e-200, "wbeam": 1e-200, "pbeam": 1e-200}
_TAIL_DB = 24.0  # an echo tail lies at least this far below the word's loudest 20 ms
_ECHO_DROP_DB = 15.0  # ... and this far below the speech just before it (a 15 % echo is -16.5 dB)
_MIN_TAIL_S = 0.02
_ECHO_LAGS_S = (0.03, 0.3)  # echo delays looked for (espeak-ng variants use 130 ms)
_ECHO_NCC = 0.9  # an echo is a scaled copy: its correlation with the audio one delay earlier
_ECHO_PROBE_S = 0.05  # how much of the tail is compared
_REACH_S = 0.01  # half of cell_db's 20 ms window: the first quiet cell lies this far past the step


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
            spans = self._align(self.decoder, data, words)
        except AlignmentError:
            if self._wide is None:
                from pocketsphinx import Decoder

                self._wide = Decoder(**_DECODER_ARGS, **_WIDE_BEAMS)
            spans = self._align(self._wide, data, words)
        cells = cell_db(audio)
        return [WordSpan(s.word, s.start_s, echo_free_end(audio, cells, s.start_s, s.end_s), s.score) for s in spans]

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


def echo_free_end(audio: np.ndarray, cells: np.ndarray, start_s: float, end_s: float) -> float:
    """`end_s`, or the start of the word's echo tail (see the module docstring) if it has one."""
    i0, i1 = round(start_s / CELL_S), min(len(cells), round(end_s / CELL_S))
    seg = cells[i0:i1]
    if len(seg) == 0:
        return end_s
    low = seg < seg.max() - _TAIL_DB
    k = len(seg)
    while k > 0 and low[k - 1]:
        k -= 1
    before, tail = seg[max(0, k - round(0.02 / CELL_S)) : k], seg[k:]
    if k == 0 or len(tail) * CELL_S < _MIN_TAIL_S or before.max() - tail.max() < _ECHO_DROP_DB:
        return end_s
    cut = max(start_s, (i0 + k + 0.5) * CELL_S - _REACH_S)
    return cut if echo_correlation(audio, cut + _REACH_S, end_s) >= _ECHO_NCC else end_s


def echo_correlation(audio: np.ndarray, t0: float, t1: float) -> float:
    """Highest normalised correlation of audio[t0:t1] (its first 50 ms) with the audio 30-300 ms
    earlier: near 1 for an echo, which repeats the signal one delay back, scaled."""
    a = round(t0 * SAMPLE_RATE)
    n = min(round(_ECHO_PROBE_S * SAMPLE_RATE), round(t1 * SAMPLE_RATE) - a, len(audio) - a)
    lo, hi = round(_ECHO_LAGS_S[0] * SAMPLE_RATE), round(_ECHO_LAGS_S[1] * SAMPLE_RATE)
    if n < round(0.01 * SAMPLE_RATE) or a - hi < 0:
        return 0.0
    y = audio[a : a + n].astype(np.float64)
    ref = audio[a - hi : a + n - lo].astype(np.float64)
    num = np.correlate(ref, y, mode="valid")
    c = np.concatenate([[0.0], np.cumsum(ref**2)])
    den = np.sqrt((c[n:] - c[:-n]) * float(y @ y)) + 1e-12
    return float(np.max(num / den))


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word in {"<s>", "</s>", "<sil>"}
