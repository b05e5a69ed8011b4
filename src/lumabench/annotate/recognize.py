"""Closed-set word recognition with pocketsphinx: which of the 50 class words does a clip sound like?

The decoder searches a JSGF grammar whose only sentences are single class words (every name and
inflection in lumabench.classes that the model's dictionary can pronounce), so it must answer with
one class word. Settings: pocketsphinx's default beams and no lattice rescoring (rescoring drops the
right word on unusual voices), batch cepstral-mean normalisation over the whole clip (the default
for full utterances) and a front end re-initialised before each clip (its running estimates
otherwise carry over, so a result depended on the clips decoded before it: 19 of 300 clips heard
differently in reverse order), and a faint seeded noise floor (about -50 dBFS) because digitally
silent frames give -inf log energies.
Measured on espeak-ng renderings of the 50 class names (two voices): 83/100 recognised correctly;
on the 6526 mini clips 80.8% (beams of 1e-100 heard the same word in 99% of clips, at 1.4x the time).

A clip heard as another class word is then decoded again with a two-class grammar (the expected
class's forms against the heard class's), in which each expected form carries 10^r times the prior
weight of each heard form. The heard class wins that decode only if its acoustic likelihood exceeds
the expected class's by more than that factor, so `r` (annotate.audio.recognition_log10_ratio) is a
likelihood-ratio threshold in decades: 0 asks only that the other word win head to head. Grammar
weights and acoustic scores share the decoder's log scale (measured: one decade of prior weight
moves the decision by one decade of acoustic likelihood, within the beam's rounding). That decode
uses beams of 1e-100 (word exits 1e-80), far wider than the largest prior (10^35), so the penalised
word is never pruned for its prior alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import resample_poly

from lumabench.classes import CLASSES, by_form, by_name
from lumabench.errors import MissingDependencyError
from lumabench.params import SAMPLE_RATE

_NOISE_STD = 100.0  # in 16-bit units
_DECODER_ARGS = {"samprate": SAMPLE_RATE, "lm": None, "bestpath": False, "loglevel": "FATAL"}
_WIDE_BEAMS = {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100}
#: the largest ratio a grammar weight can carry (pocketsphinx parses weights as 32-bit floats)
MAX_LOG10_RATIO = 35.0


def _grammar(alternatives: list[str]) -> str:
    return "#JSGF V1.0;\ngrammar classes;\npublic <word> = " + " | ".join(alternatives) + " ;\n"


class ClassWordRecognizer:
    """pocketsphinx decoders restricted to the class words; create one per process."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise MissingDependencyError("pocketsphinx is not installed", fix="pip install pocketsphinx") from exc
        self.decoder = Decoder(**_DECODER_ARGS)
        forms = sorted({f for c in CLASSES for f in c.forms})
        self.words = [w for w in forms if self.decoder.lookup_word(w) is not None]
        self.decoder.add_jsgf_string("classes", _grammar(self.words))
        self.decoder.activate_search("classes")
        self._pairs = Decoder(**_DECODER_ARGS, **_WIDE_BEAMS)
        self._searches: set[str] = set()

    def pcm(self, audio: np.ndarray, sample_rate: int, noise: np.random.Generator) -> bytes:
        """The clip as the decoder reads it: 16 kHz, 16-bit, with the seeded noise floor."""
        x = np.asarray(audio, dtype=np.float64)
        if sample_rate != SAMPLE_RATE:
            g = np.gcd(sample_rate, SAMPLE_RATE)
            x = resample_poly(x, SAMPLE_RATE // g, sample_rate // g)
        pcm = np.clip(x * 32767.0 + noise.normal(0.0, _NOISE_STD, x.shape), -32768, 32767)
        return np.round(pcm).astype("<i2").tobytes()

    @staticmethod
    def _decode(decoder: Any, data: bytes) -> str | None:
        decoder.reinit_feat()  # a fresh front end: its estimates would carry over from the last clip
        decoder.start_utt()
        decoder.process_raw(data, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return None
        c = by_form(hyp.hypstr.split()[0].split("(")[0])
        return c.name if c is not None else None

    def hear(self, audio: np.ndarray, sample_rate: int, noise: np.random.Generator) -> str | None:
        """The class the clip sounds like (None if the decoder finds no word)."""
        return self.hear_pcm(self.pcm(audio, sample_rate, noise))

    def hear_pcm(self, data: bytes) -> str | None:
        """`hear` on a clip already turned into decoder input by `pcm`."""
        return self._decode(self.decoder, data)

    def heard_despite(self, data: bytes, expected: str, heard: str, log10_ratio: float) -> bool:
        """Whether `heard` still wins a two-class decode of `data` that favours `expected` by 10^log10_ratio."""
        if not 0.0 <= log10_ratio <= MAX_LOG10_RATIO:
            raise ValueError(f"log10_ratio must lie in [0, {MAX_LOG10_RATIO}], got {log10_ratio}")
        exp = [f for f in by_name(expected).forms if f in self.words]
        if not exp:  # the dictionary cannot pronounce the expected word: nothing to compare with
            return True
        name = f"pair:{expected}:{heard}:{log10_ratio!r}"
        if name not in self._searches:
            weight = format(10.0**log10_ratio, "f")
            other = [f"/1.0/ {f}" for f in by_name(heard).forms if f in self.words]
            self._pairs.add_jsgf_string(name, _grammar([f"/{weight}/ {f}" for f in exp] + other))
            self._searches.add(name)
        self._pairs.activate_search(name)
        return self._decode(self._pairs, data) == heard
