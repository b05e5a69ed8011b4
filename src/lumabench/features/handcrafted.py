"""Deterministic hand-crafted image and audio embeddings for the offline mini profile.

Why not a trained CNN in mini: the embeddings only drive diversity sampling and nearest-class
label switching, which need a feature space where same-class items are close. Colour, gradient and
spectral statistics give that for the rendered images and synthesised speech without training,
are bit-for-bit reproducible on any CPU (no thread-dependent reductions), and take seconds.

- Image (384-d): joint RGB histogram 4×4×4 (Swain & Ballard, "Color indexing", IJCV 1991),
  HOG-style orientation histograms on a 4×4 grid of 8×8 cells, 8 unsigned bins (Dalal & Triggs,
  CVPR 2005), and an 8×8 colour thumbnail; each block L2-normalised so the three weigh the same.
- Audio (168-d): 64-band log-mel spectrum (n_fft 400, hop 160 at 16 kHz) mean and std over time,
  20 MFCCs (DCT-II of the log-mel, Davis & Mermelstein 1980) mean and std, and mean |ΔMFCC|.
The caller z-scores each dimension with statistics of the training pool.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from lumabench.params import SAMPLE_RATE

N_FFT = 400
HOP = 160
N_MELS = 64
N_MFCC = 20


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def image_features(images: np.ndarray) -> np.ndarray:
    """uint8 [B, 32, 32, 3] → float32 [B, 384]."""
    b, h, w, _ = images.shape
    x = images.astype(np.float64) / 255.0
    q = np.minimum((x * 4).astype(np.int64), 3)
    code = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
    hist = np.zeros((b, 64))
    np.add.at(hist, (np.repeat(np.arange(b), h * w), code.reshape(-1)), 1.0)
    gray = x @ np.array([0.299, 0.587, 0.114])
    gy = np.zeros_like(gray)
    gx = np.zeros_like(gray)
    gy[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    obin = np.minimum((ang / np.pi * 8).astype(np.int64), 7)
    cell = (np.arange(h)[:, None] // (h // 4)) * 4 + (np.arange(w)[None, :] // (w // 4))
    idx = cell[None] * 8 + obin
    hog = np.zeros((b, 16 * 8))
    np.add.at(hog, (np.repeat(np.arange(b), h * w), idx.reshape(-1)), mag.reshape(-1))
    hog = _l2(hog.reshape(b * 16, 8)).reshape(b, 128)
    thumb = x.reshape(b, 8, h // 8, 8, w // 8, 3).mean(axis=(2, 4)).reshape(b, 192)
    thumb = thumb - thumb.mean(axis=1, keepdims=True)
    return np.concatenate([_l2(hist), _l2(hog), _l2(thumb)], axis=1).astype(np.float32)


def _mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters on the HTK mel scale, [n_fft//2 + 1, n_mels]."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = 700.0 * (10 ** (np.linspace(mel(np.array(0.0)), mel(np.array(sr / 2)), n_mels + 2) / 2595.0) - 1)
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0, np.minimum(up, down)).T


_FILTERS = _mel_filters()
_WINDOW = np.hanning(N_FFT + 1)[:-1]


def audio_features(wave: np.ndarray) -> np.ndarray:
    """float mono 16 kHz [T] → float32 [168]."""
    x = np.asarray(wave, dtype=np.float64)
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n] * _WINDOW
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    logmel = np.log(spec @ _FILTERS + 1e-10)
    mfcc = dct(logmel, type=2, axis=1, norm="ortho")[:, :N_MFCC]
    dm = np.abs(np.diff(mfcc, axis=0)).mean(axis=0) if n > 1 else np.zeros(N_MFCC)
    out = np.concatenate([logmel.mean(0), logmel.std(0), mfcc.mean(0), mfcc.std(0), dm])
    return out.astype(np.float32)


def zscore(features: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Standardise each dimension with the mean/std of `fit_rows` (the clean training pool)."""
    ref = features[fit_rows].astype(np.float64)
    mu = ref.mean(axis=0)
    sd = ref.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return ((features - mu) / sd).astype(np.float32)
