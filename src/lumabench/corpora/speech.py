"""Synthetic speech for every class word: template sentences spoken by many voices of three engines.

Each (class, voice) pair speaks `sentences_per_word` sentences drawn from the templates (fewer for
out-of-distribution classes), each at its own speaking rate and pitch, so clips of one class vary
in voice, engine, context and tempo. The sentence structure keeps the class word inside running
speech, as in the corpora LUMA cuts its clips from; the audio stage finds it with a forced aligner.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from lumabench.classes import CLASSES, NAMES
from lumabench.corpora.tts import SAMPLE_RATE, Utterance, synthesise
from lumabench.seeding import int_seed, rng

log = logging.getLogger(__name__)

# No template word may be a class word, its plural, or a homophone of one (see, plane, bare, ...).
TEMPLATES: tuple[str, ...] = (
    "I saw the {w} this morning.",
    "Look at the {w} over there.",
    "She pointed at the {w} and smiled.",
    "We talked about the {w} for a while.",
    "There was a picture of the {w} on the wall.",
    "He drew the {w} in his notebook.",
    "Did you notice the {w} yesterday?",
    "My friend photographed the {w} last week.",
    "They wrote a story about the {w}.",
    "Please find the {w} in this picture.",
    "The children liked the {w} very much.",
    "Everyone looked at the {w} in silence.",
    "I dreamed about the {w} last night.",
    "Nobody expected the {w} at all.",
    "Tell me more about the {w}, please.",
    "Then the {w} appeared again.",
)
HOMOPHONES: frozenset[str] = frozenset(
    {"see", "plane", "bare", "be", "hoarse", "wail", "rode", "rowed", "seas", "sees"}
)

# Speaking-rate factors: not faster than 1.1x, so short class words ("ray", "bee") stay above the
# audio stage's minimum clip duration with every voice.
RATE_RANGE = (0.8, 1.1)

LICENCES = {
    "espeak-ng": "GPL-3.0-or-later (espeak-ng voice data)",
    "flite": "BSD-style (CMU flite voices)",
    "festival": "festvox diphone voice licence (free use with attribution)",
}


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str

    @property
    def speaker(self) -> str:
        return f"{self.engine}/{self.name}"


@dataclass(frozen=True)
class Job:
    """Every sentence one voice speaks, in a fixed order, with where each file goes."""

    voice: Voice
    seed: int
    items: tuple[tuple[str, Utterance, str], ...]  # (label, utterance, path relative to raw/)


def voices_from(cfg: Any) -> list[Voice]:
    """The voices of the enabled engines, in params order."""
    per_engine = {"espeak-ng": cfg.espeak_voices, "flite": cfg.flite_voices, "festival": cfg.festival_voices}
    return [Voice(e, v) for e in cfg.engines for v in per_engine[e]]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9+_.-]", "_", name)


def plan(cfg: Any, seed: int) -> list[Job]:
    """The sentences of every voice: templates drawn per (class, voice), rate and pitch per sentence."""
    jobs = []
    for voice in voices_from(cfg):
        items = []
        for cls in CLASSES:
            n = cfg.ood_sentences_per_word if cls.ood else cfg.sentences_per_word
            g = rng(seed, "corpora", "speech", cls.name, voice.speaker)
            order = [int(i) for i in g.permutation(len(TEMPLATES))]
            while len(order) < n:
                order += [int(i) for i in g.permutation(len(TEMPLATES))]
            for k in range(n):
                text = TEMPLATES[order[k]].format(w=cls.name)
                utt = Utterance(text, rate=float(g.uniform(*RATE_RANGE)), pitch=float(g.uniform(-0.6, 0.6)))
                rel = f"speech/{voice.engine}/{_safe(voice.name)}/{cls.name}_{k:03d}.wav"
                items.append((cls.name, utt, rel))
        jobs.append(Job(voice, int_seed(seed, "corpora", "speech-engine", voice.speaker), tuple(items)))
    return jobs


def run_job(job: Job, out: Path) -> list[dict[str, Any]]:
    """Speak one voice's sentences, write 16 kHz 16-bit WAVs under `out`, return manifest rows."""
    spoken = synthesise(job.voice.engine, job.voice.name, [u for _, u, _ in job.items], job.seed)
    rows = []
    for (label, utt, rel), sp in zip(job.items, spoken, strict=True):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, sp.audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        timings = None
        if sp.words is not None:
            timings = [{"word": w, "start_s": round(a, 4), "end_s": round(b, 4)} for w, a, b in sp.words]
        rows.append({
            "corpus": "mini-speech",
            "kind": "speech",
            "rel": rel,
            "licence": LICENCES[job.voice.engine],
            "label": label,
            "pool": None,
            "transcript": utt.text,
            "speaker": job.voice.speaker,
            "engine": job.voice.engine,
            "word_timings": timings,
        })  # fmt: skip
    return rows


def template_words() -> set[str]:
    """Every word the templates use besides the class word (for the no-leak check)."""
    return {w for t in TEMPLATES for w in re.findall(r"[a-z']+", t.lower().replace("{w}", " "))}


def leaking_words() -> set[str]:
    """Template words that are a class name, a class word form, or a homophone of one."""
    forms = {f for c in CLASSES for f in c.forms} | set(NAMES)
    return template_words() & (forms | HOMOPHONES)
