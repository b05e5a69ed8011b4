"""Transcripts, speakers and shipped word alignments of the full profile's raw speech corpora.

`lumabench audio` cuts class words out of manifest rows of kind `speech`: it needs each file's
transcript, and where the corpus ships its own word alignment (`audio.word_timings_from`) it cuts
with those times instead of aligning again. This module reads that metadata from the files each
corpus publishes, so `full.manifest_table` can put it on the audio rows:

- LibriSpeech: `<speaker>-<chapter>.trans.txt` (transcripts) and the word alignments of Zenodo record
  2619474, either as per-chapter `<speaker>-<chapter>.alignment.txt` lines or as per-utterance
  Praat `<utterance>.TextGrid` files (Montreal Forced Aligner output, tier `words`). Alignments are
  matched to FLAC rows by utterance id, since their folder layout is not LibriSpeech's.
- Spoken Wikipedia (English): `aligned.swc` (normalised words `<n pronunciation start end>` in ms),
  reader names from `audiometa.txt` / `info.json`.
- Common Voice: `validated.tsv` (sentence and client id of each clip in `clips/`).

Every parser is a pure function of file content; the `*_meta` functions read the files. A damaged
metadata file costs its own rows their metadata (logged and counted), never the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lumabench.corpora.speech_meta.common import SpeechMeta
from lumabench.corpora.speech_meta.common_voice import common_voice_meta, mp3_readable, parse_validated_tsv
from lumabench.corpora.speech_meta.librispeech import (
    librispeech_meta,
    parse_alignment_txt,
    parse_librispeech_transcripts,
    parse_textgrid_words,
)
from lumabench.corpora.speech_meta.spoken_wikipedia import (
    SwcError,
    parse_audiometa,
    parse_info_reader,
    parse_swc,
    split_by_file,
    spoken_wikipedia_meta,
)

__all__ = [
    "SpeechMeta",
    "SwcError",
    "common_voice_meta",
    "corpus_meta",
    "librispeech_meta",
    "mp3_readable",
    "parse_alignment_txt",
    "parse_audiometa",
    "parse_info_reader",
    "parse_librispeech_transcripts",
    "parse_swc",
    "parse_textgrid_words",
    "parse_validated_tsv",
    "split_by_file",
    "spoken_wikipedia_meta",
]


def corpus_meta(corpus: str, corpus_dir: Path, files: Sequence[str]) -> dict[str, SpeechMeta]:
    """Path (relative to `corpus_dir`) -> metadata of each speech file of `corpus`, over all its archives."""
    if corpus == "librispeech":
        return librispeech_meta(corpus_dir, files)
    if corpus == "spoken_wikipedia":
        return spoken_wikipedia_meta(corpus_dir, files)
    if corpus == "common_voice":
        return common_voice_meta(corpus_dir, files)
    return {}
