"""The one interface every text backend implements, and the list of texts to generate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lumabench.classes import CLASSES
from lumabench.params import Text
from lumabench.seeding import int_seed


@dataclass(frozen=True)
class Job:
    """One text to generate: which class, which prompt, and the seed that makes it reproducible."""

    text_id: str
    label: str
    prompt_id: int
    prompt: str
    seed: int


class BatchTooLarge(RuntimeError):
    """Raised by a backend when a batch does not fit in memory; the runner halves the batch."""


class TextBackend(Protocol):
    """Generates one text per job; text i depends only on jobs[i] (its seed), never on the batch."""

    name: str
    model: str

    def fingerprint(self) -> dict[str, Any]:
        """Every setting that changes the generated texts (keys the resume cache)."""
        ...

    def generate(self, jobs: Sequence[Job]) -> list[str]: ...


def render_prompt(template: str, label: str) -> str:
    """Fill `{label}`, fixing the article in front of it ("a elephant" -> "an elephant")."""
    article = "an" if label[0] in "aeiou" else "a"
    return template.replace("a {label}", f"{article} {{label}}").replace("{label}", label)


def jobs_for(cfg: Text, seed: int) -> list[Job]:
    """Every text of the stage, in output order: class id, then sample index.

    Sample k of a class uses prompt k mod P, and its seed derives from (seed, class, prompt, k),
    so any single text can be regenerated alone.
    """
    jobs: list[Job] = []
    n_prompts = len(cfg.prompts)
    for c in CLASSES:
        for k in range(cfg.texts_per_class):
            pid = k % n_prompts
            jobs.append(
                Job(
                    text_id=f"{c.name}-{k:05d}",
                    label=c.name,
                    prompt_id=pid,
                    prompt=render_prompt(cfg.prompts[pid], c.name),
                    seed=int_seed(seed, "text", c.name, pid, k),
                )
            )
    return jobs
