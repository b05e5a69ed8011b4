"""A clip's waveform as a small SVG drawn on the server (no script or asset from elsewhere).

Each of `width` columns spans an equal slice of the samples and draws their minimum and maximum,
so short clicks and clipped peaks stay visible however long the clip is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumabench.annotate.audio_filters import read_mono


def envelope(audio: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of `audio` over `width` equal slices (silence for an empty clip)."""
    if len(audio) == 0:
        return np.zeros(width), np.zeros(width)
    edges = np.linspace(0, len(audio), width + 1).astype(int)
    lo, hi = np.zeros(width), np.zeros(width)
    for i in range(width):
        part = audio[edges[i] : max(edges[i + 1], edges[i] + 1)]
        lo[i], hi[i] = part.min(), part.max()
    return lo, hi


def svg(path: Path, width: int = 800, height: int = 120) -> str:
    """The waveform of the audio file at `path` as an SVG document (full scale = full height)."""
    audio, _ = read_mono(path)
    lo, hi = envelope(np.clip(audio, -1.0, 1.0), width)
    mid = height / 2
    top = " ".join(f"{x},{mid - v * mid:.1f}" for x, v in enumerate(hi))
    bottom = " ".join(f"{x},{mid - v * mid:.1f}" for x, v in reversed(list(enumerate(lo))))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" preserveAspectRatio="none">'
        f'<line x1="0" y1="{mid}" x2="{width}" y2="{mid}" stroke="#c8cdd4" stroke-width="1"/>'
        f'<polygon points="{top} {bottom}" fill="#3b6ea8" stroke="#3b6ea8" stroke-width="0.6"/></svg>'
    )
