"""Shared pieces of the speech-metadata readers: the row type, word-timing entries, file decoding."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Timing = dict[str, Any]  # {"word": str, "start_s": float, "end_s": float}: schemas.WORD_TIMING

# Silence and non-word labels of forced aligners (the alignment.txt format uses "").
SILENCE = frozenset({"", "sil", "sp", "spn", "<eps>", "<sil>", "<s>", "</s>"})
# One spoken word: letters with inner apostrophes or hyphens, no digits, no spaces.
WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*'?$")


@dataclass(frozen=True)
class SpeechMeta:
    """What one speech file's manifest row gets; None leaves the column null."""

    transcript: str | None = None
    speaker: str | None = None
    word_timings: list[Timing] | None = None


def timing(word: str, start_s: float, end_s: float) -> Timing:
    # Rounded to the microsecond so offsets and unit changes leave no float noise in the manifest.
    return {"word": word, "start_s": round(start_s, 6), "end_s": round(end_s, 6)}


def read_text(path: Path) -> str:
    """Text of a metadata file: UTF-8 or UTF-16 (Praat writes either), undecodable bytes replaced."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")
