"""Cut, trim and normalise one word clip; read sources robustly.

Loudness is the RMS level (dBFS) of the clip's active frames rather than ITU-R BS.1770 LUFS: the
BS.1770 gating blocks are 400 ms long, longer than most single-word clips (0.25-0.7 s).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from lumabench.errors import InputError
from lumabench.params import SAMPLE_RATE

_FRAME_S = 0.02  # silence-trimming analysis frame
_HOP_S = 0.005
CELL_S = 0.005  # cell_db resolution
_PEAK_LIMIT = 10 ** (-1.0 / 20)  # -1 dBFS: normalising never clips


@dataclass(frozen=True)
class Clip:
    """A finished clip: samples and where they came from in the source (seconds)."""

    audio: np.ndarray
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SourceError(Exception):
    """A source file is unreadable or unusable (reported with its reason and skipped)."""


def read_mono(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Float32 mono samples at `sample_rate`; any other rate or channel count is converted."""
    if not path.is_file():
        raise SourceError("file not found")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        reason = str(exc).split("': ", 1)[-1]  # drop libsndfile's copy of the (absolute) path
        raise SourceError(f"unreadable audio ({reason})") from exc
    if audio.shape[0] == 0:
        raise SourceError("audio file has no samples")
    mono = audio.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise SourceError("audio holds NaN or infinite samples")
    if sr != sample_rate:
        from scipy.signal import resample_poly  # here: scipy.signal takes 1.5 s to import, most files need none

        g = np.gcd(int(sr), sample_rate)
        mono = resample_poly(mono, sample_rate // g, int(sr) // g).astype(np.float32)
    return mono.astype(np.float32, copy=False)


def load_mono(path: Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`read_mono` for the later stages: contiguous float32, and an unusable file is an `InputError`
    that names it and the stage to re-run (the audio stage itself skips such files instead)."""
    try:
        return np.ascontiguousarray(read_mono(path, rate))
    except SourceError as exc:
        raise InputError(str(exc), path, "re-run the stage that wrote it") from exc


def frame_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int, int]:
    """Per-frame energy in dB (frame 20 ms, hop 5 ms), with the frame and hop lengths in samples."""
    frame = int(_FRAME_S * sample_rate)
    hop = int(_HOP_S * sample_rate)
    x = audio.astype(np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    energy = np.mean(x[idx] ** 2, axis=1)
    return 10.0 * np.log10(energy + 1e-12), frame, hop


def active_bounds(audio: np.ndarray, top_db: float, sample_rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """First and one-past-last sample that are not silence (frames within `top_db` of the peak frame)."""
    db, frame, hop = frame_db(audio, sample_rate)
    loud = np.flatnonzero(db > db.max() - top_db)
    if len(loud) == 0 or db.max() <= -100.0:
        return 0, 0
    start = int(loud[0] * hop)
    end = min(len(audio), int(loud[-1] * hop + frame))
    return start, end


def cell_db(audio: np.ndarray, frame_s: float = _FRAME_S) -> np.ndarray:
    """Energy (dB) of a `frame_s` frame centred on each 5 ms cell of `audio` (cell i: [i*5, i*5+5) ms)."""
    frame, hop = round(frame_s * SAMPLE_RATE), round(CELL_S * SAMPLE_RATE)
    n = -(-len(audio) // hop)
    pad = (frame - hop) // 2
    x = np.pad(audio.astype(np.float64), (pad, n * hop + frame - hop - pad - len(audio)))
    sums = np.concatenate([[0.0], np.cumsum(x**2)])  # running sums: memory stays linear in the length
    starts = hop * np.arange(n)
    energy = np.maximum(sums[starts + frame] - sums[starts], 0.0) / frame
    return 10.0 * np.log10(energy + 1e-12)


def normalise(audio: np.ndarray, target_dbfs: float, top_db: float) -> np.ndarray:
    """Scale to an RMS of `target_dbfs` over the active frames, limited so the peak stays at -1 dBFS."""
    db, _, _ = frame_db(audio)
    active = db[db > db.max() - top_db]
    rms_db = 10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))
    gain = 10.0 ** ((target_dbfs - rms_db) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    if peak > _PEAK_LIMIT:
        gain *= _PEAK_LIMIT / peak
    return (audio.astype(np.float64) * gain).astype(np.float32)


def cut_clip(
    audio: np.ndarray,
    start_s: float,
    end_s: float,
    margin_s: float,
    top_db: float,
    target_dbfs: float,
    floor_s: float = 0.0,
    ceiling_s: float = float("inf"),
) -> Clip | None:
    """Cut [start - margin, end + margin], trim edge silence, normalise; None if nothing audible is left.

    The margin never reaches past `floor_s`/`ceiling_s` (the neighbouring words' boundaries), so it
    only takes in the pause around the word, never part of the next word.
    """
    n = len(audio)
    lo_s = max(start_s - margin_s, min(floor_s, start_s))
    hi_s = min(end_s + margin_s, max(ceiling_s, end_s))
    a = max(0, round(lo_s * SAMPLE_RATE))
    b = min(n, round(hi_s * SAMPLE_RATE))
    if b <= a:
        return None
    seg = audio[a:b]
    lo, hi = active_bounds(seg, top_db)
    if hi <= lo:
        return None
    seg = seg[lo:hi]
    return Clip(normalise(seg, target_dbfs, top_db), (a + lo) / SAMPLE_RATE, (a + hi) / SAMPLE_RATE)


def is_clip_wav(data: bytes) -> bool:
    """Whether `data` has the header `wav_bytes` writes: RIFF WAVE, PCM, mono, 16 kHz, 16-bit."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:16] != b"WAVEfmt ":
        return False
    fmt, channels, rate = struct.unpack_from("<HHI", data, 20)
    (bits,) = struct.unpack_from("<H", data, 34)
    return (fmt, channels, rate, bits) == (1, 1, SAMPLE_RATE, 16)


def wav_bytes(audio: np.ndarray) -> bytes:
    """16-bit PCM mono WAV at 16 kHz; the same samples always give the same bytes."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()
