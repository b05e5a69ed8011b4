"""The background-noise bank for SNR injection: coloured noise plus packaged real sound recordings.

White, pink (1/f) and brown (1/f^2) noise are shaped in the frequency domain with random phases
(Timmer & König 1995, "On generating power law noise", A&A 300:707). Real sounds come from the
Debian freedesktop sound theme; each file's licence is read from the package's DEP-5 copyright
file. Files containing speech (the channel-test announcements) are left out: noise must not add
words the forced aligner or a listener could mistake for a class word.
"""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from lumabench.corpora.tts import SAMPLE_RATE, to_16k
from lumabench.errors import MissingDependencyError
from lumabench.seeding import rng

log = logging.getLogger(__name__)

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # exponent of the power spectrum 1/f^beta
SOUND_THEME = Path("/usr/share/sounds/freedesktop/stereo")
SOUND_THEME_COPYRIGHT = Path("/usr/share/doc/sound-theme-freedesktop/copyright")
SOUND_THEME_PACKAGE = "sound-theme-freedesktop"
SPEECH_FILES = ("audio-channel-*",)  # spoken announcements, not noise
PEAK = 0.5  # peak amplitude of every bank file (the audio stage rescales to the wanted SNR anyway)


def coloured(beta: float, n: int, g: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f^beta (beta 0 white, 1 pink, 2 brown)."""
    freqs = np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE)
    scale = np.ones_like(freqs)
    scale[1:] = freqs[1:] ** (-beta / 2.0)
    scale[0] = 0.0
    spec = scale * (g.normal(size=freqs.size) + 1j * g.normal(size=freqs.size))
    x = np.fft.irfft(spec, n)
    return x / np.max(np.abs(x))


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def licences_from_dep5(path: Path) -> dict[str, str]:
    """Map each `Files:` glob of a Debian DEP-5 copyright file to its `License:` short name."""
    out: dict[str, str] = {}
    files: list[str] = []
    for line in path.read_text("utf-8", "replace").splitlines():
        if line.startswith("Files:"):
            files = line.split(":", 1)[1].split()
        elif line.startswith("License:") and files:
            name = line.split(":", 1)[1].strip()
            for f in files:
                out[f] = name
            files = []
    return out


def _licence(glob_map: dict[str, str], name: str) -> str | None:
    for pattern, lic in glob_map.items():
        if fnmatch.fnmatch(f"stereo/{name}", pattern):
            return lic
    return None


def _packaged() -> list[tuple[Path, str]]:
    """The sound-theme recordings used, with their licences: real files (no links), no spoken
    announcements, and only files the package's copyright file gives a licence for."""
    glob_map = licences_from_dep5(SOUND_THEME_COPYRIGHT) if SOUND_THEME_COPYRIGHT.is_file() else {}
    out = []
    for src in sorted(SOUND_THEME.glob("*.oga")):
        if src.is_symlink() or any(fnmatch.fnmatch(src.name, p) for p in SPEECH_FILES):
            continue
        licence = _licence(glob_map, src.name)
        if licence is None:
            log.debug("noise bank: skipping %s (no licence in %s)", src.name, SOUND_THEME_COPYRIGHT)
            continue
        out.append((src, licence))
    return out


def expected_count(cfg: Any) -> int:
    """About how many files build_noise writes (for the progress bar)."""
    packaged = len(_packaged()) if cfg.packaged_sounds and SOUND_THEME.is_dir() else 0
    return len(COLOURS) * cfg.noise_per_colour + packaged


def build_noise(cfg: Any, seed: int, out: Path) -> list[dict[str, Any]]:
    """Write the noise bank under `out/noise/`; return manifest rows."""
    rows: list[dict[str, Any]] = []
    n = cfg.noise_seconds * SAMPLE_RATE
    for colour, beta in COLOURS.items():
        for k in range(cfg.noise_per_colour):
            x = coloured(beta, n, rng(seed, "corpora", "noise", colour, k)) * PEAK
            rel = f"noise/synthetic/{colour}_{k:02d}.wav"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(out / rel, _int16(x), SAMPLE_RATE, subtype="PCM_16", format="WAV")
            rows.append({"corpus": "mini-noise", "kind": "noise", "rel": rel, "licence": "CC0-1.0 (synthesised)",
                         "label": None, "pool": None})  # fmt: skip
    if not cfg.packaged_sounds:
        return rows
    if not SOUND_THEME.is_dir():
        raise MissingDependencyError(
            "the packaged sound recordings are not installed", SOUND_THEME, f"apt-get install {SOUND_THEME_PACKAGE}"
        )
    for src, licence in _packaged():
        audio, rate = sf.read(src, dtype="float64", always_2d=True)
        x = to_16k(audio.mean(axis=1) * 32767.0, rate).astype(np.float64)
        peak = np.max(np.abs(x))
        if peak == 0:
            continue
        rel = f"noise/freedesktop/{src.stem}.wav"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(out / rel, _int16(x / peak * PEAK), SAMPLE_RATE, subtype="PCM_16", format="WAV")
        rows.append({"corpus": "mini-noise", "kind": "noise", "rel": rel, "licence": licence,
                     "label": None, "pool": None})  # fmt: skip
    return rows
