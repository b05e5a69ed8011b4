"""Background-noise mixing at an exact signal-to-noise ratio, and the noise bank it draws from.

SNR_dB = 10·log10(P_speech / P_noise) with P the mean power over the clip. The noise segment is
scaled so the ratio is exactly the drawn value; if the mix would clip, speech and noise are scaled
together (the ratio is unchanged). Everything stays at 16 kHz, the rate the spectrogram assumes
(the reference tool rewrote noisy audio at 22.05 kHz; LUMA-SPEC §8).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from lumabench.audio.clips import load_mono
from lumabench.errors import InputError

PEAK = 0.99


@dataclass(frozen=True)
class NoiseBank:
    """Noise recordings (float32 mono at 16 kHz) and their names (paths relative to the project root)."""

    names: tuple[str, ...]
    waves: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.names)


def load_bank(manifest: pd.DataFrame, root: Path) -> NoiseBank:
    """The noise bank: every manifest row with kind == 'noise', sorted by path for determinism."""
    rows = manifest[manifest["kind"] == "noise"].sort_values("path")
    if rows.empty:
        raise InputError("no noise files (kind == 'noise') in the manifest", root, "re-run `lumabench corpora`")
    names, waves = [], []
    for rel in rows["path"]:
        w = load_mono(root / rel)
        if w.size == 0 or not np.any(w):
            raise InputError("noise file is empty or silent", root / rel, "re-run `lumabench corpora`")
        names.append(str(rel))
        waves.append(w)
    return NoiseBank(tuple(names), tuple(waves))


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """Measured SNR of `clean` against `noise` (same length), in dB."""
    return 10.0 * np.log10(power(clean) / max(power(noise), 1e-30))


MIN_SEGMENT_POWER = 0.1  # a segment must carry at least this fraction of the recording's mean power


def noise_segment(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A length-n segment from a random offset, looping the recording when it is shorter.

    Offsets are drawn among those whose segment carries at least `MIN_SEGMENT_POWER` of the
    recording's mean power, so a pause inside a recorded sound never yields silent "noise".
    """
    m = len(noise)
    sq = np.square(noise.astype(np.float64))
    looped = np.concatenate([sq, np.tile(sq, n // m + 1)[:n]])
    csum = np.concatenate([[0.0], np.cumsum(looped)])
    window = (csum[n : n + m] - csum[:m]) / n  # mean power of the segment starting at each offset
    valid = np.flatnonzero(window >= MIN_SEGMENT_POWER * sq.mean())
    start = int(valid[rng.integers(0, len(valid))]) if len(valid) else int(rng.integers(0, m))
    idx = (start + np.arange(n)) % m
    return noise[idx]


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mix `noise` (same length) into `clean` at exactly `snr` dB.

    Returns (mix, scaled noise, gain): mix = gain·(clean + scaled noise), where gain ≤ 1 only
    prevents clipping, so SNR(gain·clean, gain·noise) = snr exactly.
    """
    ps, pn = power(clean), power(noise)
    if ps <= 0 or pn <= 0:
        raise ValueError("cannot mix at an SNR with a silent clip or silent noise")
    scale = np.sqrt(ps / (pn * 10.0 ** (snr / 10.0)))
    n = (noise.astype(np.float64) * scale).astype(np.float64)
    mix = clean.astype(np.float64) + n
    peak = float(np.max(np.abs(mix)))
    gain = min(1.0, PEAK / peak) if peak > 0 else 1.0
    return (mix * gain).astype(np.float32), (n * gain).astype(np.float32), gain


def read_wav_bytes(b: bytes) -> tuple[np.ndarray, int]:
    data, sr = sf.read(io.BytesIO(b), dtype="float32")
    return data, int(sr)
