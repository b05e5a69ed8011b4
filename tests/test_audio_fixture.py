"""Speech fixture for the audio tests: espeak-ng sentences with the engine's own word timings.

Synthesised through libespeak-ng (the library the corpora stage loads) so the word events come
with the audio: a word starts at its word event and ends at the next word event or the first pause
phoneme after it. Audio is resampled from 22.05 kHz to 16 kHz mono.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from lumabench.corpora.tts import _espeak_library, _Event
from lumabench.io import write_parquet
from lumabench.schemas import MANIFEST

# 12 sentences that name every in-distribution class at least once, plus decoys ("cathedral").
SENTENCES = [
    "The man and the boy walked to the house.",
    "A woman and a girl sat at the table.",
    "The road led a horse and a dog to the ship.",
    "A bird flew over the mountain and the bed of the river.",
    "The train crossed the bridge while a fish jumped.",
    "A cloud passed over the chair where the cat slept.",
    "The baby saw the castle beyond the forest.",
    "We watched television about a bear and a camel by the sea.",
    "A fox ran across the plain toward the bus.",
    "The snake hid under the lamp beside the clock.",
    "A lion and a tank stood near the palm and the rabbit.",
    "The pine, the cattle, the oak, the mouse, the frog and a ray.",
]
DECOYS = ["The cathedral doors were open and the catalog was long."]
VOICES = ["en", "en-us", "en+f3", "en-gb-x-rp", "en+m3"]


_WORD, _END, _PHONEME = 1, 5, 7
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Espeak:
    """libespeak-ng in synchronous mode with word and phoneme events."""

    def __init__(self) -> None:
        # the corpora stage's loader: one libespeak-ng per process (two copies in one process abort)
        self.lib, data = _espeak_library()
        self.rate = self.lib.espeak_Initialize(2, 0, data, 1)
        if self.rate <= 0:
            pytest.skip("libespeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._cb = _CALLBACK(self._on_audio)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _on_audio(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != 0:
            e = events[i]
            self._events.append((e.type, e.text_position, e.length, e.sample, e.id if e.type == _PHONEME else b""))
            i += 1
        return 0

    def say(self, text: str, voice: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """16 kHz float audio and word timings [{word, start_s, end_s}] of `text` spoken by `voice`."""
        self._chunks, self._events = [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"unknown espeak-ng voice {voice!r}")
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        words: list[list[Any]] = []
        for kind, pos, length, sample, phoneme in self._events:
            open_word = bool(words) and words[-1][2] is None
            if kind == _WORD:
                if open_word:
                    words[-1][2] = sample
                words.append([text[pos - 1 : pos - 1 + length], sample, None])
            elif open_word and (
                kind == _END or (kind == _PHONEME and phoneme.startswith(b"_") and sample > words[-1][1])
            ):
                words[-1][2] = sample  # a pause or the end of the utterance closes the word
        if words and words[-1][2] is None:
            words[-1][2] = len(audio)
        out = resample_poly(audio, 320, 441).astype(np.float32)
        timings = [{"word": w, "start_s": a / self.rate, "end_s": b / self.rate} for w, a, b in words]
        return out, timings


def build_corpus(
    root: Path, sentences: list[str], voices: list[str], corrupt: bool = False, profile: str = "mini"
) -> list[dict[str, Any]]:
    """Write WAVs and a manifest under root/data/<profile>/raw like the corpora stage does."""
    espeak = Espeak()
    raw = root / "data" / profile / "raw" / "speech"
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for vi, voice in enumerate(voices):
        for si, text in enumerate(sentences):
            audio, timings = espeak.say(text, voice)
            rel = f"data/{profile}/raw/speech/espeak-{vi}-{si:02d}.wav"
            sf.write(root / rel, audio, 16000, subtype="PCM_16")
            rows.append(_row(root, rel, text, f"espeak-ng/{voice}", "espeak-ng", timings))
    if corrupt:
        rel = f"data/{profile}/raw/speech/corrupt.wav"
        (root / rel).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        rows.append(_row(root, rel, "The cat sat on the bed.", "espeak-ng/en", "espeak-ng", None))
    table = pa.Table.from_pylist(rows, schema=MANIFEST)
    write_parquet(root / "data" / profile / "raw" / "manifest.parquet", table, MANIFEST)
    return rows


def _row(root: Path, rel: str, text: str, speaker: str, engine: str, timings: Any) -> dict[str, Any]:
    data = (root / rel).read_bytes()
    return {
        "corpus": "mini-speech",
        "kind": "speech",
        "path": rel,
        "bytes": len(data),
        "sha256": "0" * 64,
        "licence": "test",
        "label": None,
        "pool": None,
        "transcript": text,
        "speaker": speaker,
        "engine": engine,
        "word_timings": timings,
    }


def test_fixture_timings_cover_every_word(tmp_path: Path) -> None:
    audio, timings = Espeak().say("The cat sat near the cathedral.", "en")
    assert [t["word"] for t in timings] == ["The", "cat", "sat", "near", "the", "cathedral"]
    starts = [t["start_s"] for t in timings]
    assert starts == sorted(starts)
    assert all(t["end_s"] > t["start_s"] for t in timings)
    assert timings[-1]["end_s"] <= len(audio) / 16000 + 0.01
