"""Stage 3 with the offline template backend: WordNet reader, facts, texts, resume, OOM halving."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lumabench.classes import CLASSES, NAMES, by_form
from lumabench.params import Params, Text, load_params
from lumabench.paths import Paths
from lumabench.schemas import GENERATED
from lumabench.text import cache_dir, generate_all, run
from lumabench.text.backend import BatchTooLarge, Job, jobs_for, render_prompt
from lumabench.text.facts import FACTS
from lumabench.text.template import TemplateBackend, compose, gerund, knowledge, past
from lumabench.wordnet import open_wordnet

WORD = re.compile(r"[A-Za-z]+")


def _params(root: Path, *overrides: str) -> Params:
    return load_params(root / "params.yaml", ["text.backend=template", *overrides])


def _mentions(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in WORD.findall(text):
        c = by_form(w)
        if c is not None:
            out[c.name] = out.get(c.name, 0) + 1
    return out


# ------------------------------------------------------------------ WordNet reader
def test_wordnet_lookups() -> None:
    wn = open_wordnet()
    horse = wn.sense("horse", "n")
    assert horse is not None and "quadruped" in horse.definition
    assert [h.name for h in wn.hypernym_chain(horse)][:2] == ["equine", "odd-toed ungulate"]
    assert "withers" in [p.name for p in wn.part_meronyms(horse)]
    ray = wn.sense("ray", "n", "flattened")
    assert ray is not None and "flattened bodies" in ray.definition
    assert wn.base_forms("mice", "n") == ["mouse"]
    assert "little" in wn.antonyms("big", "a")
    assert "bad" in wn.antonyms("good", "a")
    assert "large" in wn.synonyms("big", "a")
    assert "big" not in wn.synonyms("big", "a")
    assert wn.synsets("qwxzv", "n") == []


def test_wordnet_missing_dir_is_one_clear_error(tmp_path: Path) -> None:
    from lumabench.errors import MissingDependencyError
    from lumabench.wordnet import WordNet

    with pytest.raises(MissingDependencyError, match="apt-get install wordnet"):
        WordNet(tmp_path)


# ------------------------------------------------------------------ facts and composition
def test_facts_cover_every_class_and_never_name_another() -> None:
    assert set(FACTS) == set(NAMES)
    for name, f in FACTS.items():
        for field in ("looks", "features", "places", "actions", "facts"):
            phrases = f.phrases(field)
            assert len(phrases) >= (3 if field != "facts" else 2), (name, field)
            for p in phrases:
                others = {c for c in _mentions(p) if c != name}
                assert not others, f"{name}.{field}: {p!r} names {others}"


def test_inflection() -> None:
    assert past("dig a den") == "dug a den"
    assert past("trot along") == "trotted along"
    assert past("graze on grass") == "grazed on grass"
    assert past("carry a rider") == "carried a rider"
    assert past("stay green") == "stayed green"
    assert gerund("graze on grass") == "grazing on grass"
    assert gerund("swim across") == "swimming across"
    assert gerund("see") == "seeing"
    assert render_prompt("Describe a {label}.", "elephant") == "Describe an elephant."


def test_texts_are_deterministic_varied_and_about_their_class() -> None:
    cfg = Text(texts_per_class=24)
    jobs = jobs_for(cfg, seed=42)
    backend = TemplateBackend()
    texts = backend.generate(jobs)
    assert texts == backend.generate(jobs)  # same seeds, same texts
    assert backend.generate(jobs[5:6]) == texts[5:6]  # independent of the batch
    by_class: dict[str, list[str]] = {}
    for j, t in zip(jobs, texts, strict=True):
        by_class.setdefault(j.label, []).append(t)
        assert "{" not in t and "}" not in t
        assert t[0].isupper() and t.endswith(".")
        n_sent = len(re.findall(r"[.!?](?:\s|$)", t))
        assert n_sent >= 4, t
        assert not re.search(r"\ba [aeiou]", t), t
        m = _mentions(t)
        own = m.get(j.label, 0)
        assert own >= 2, (j.label, t)
        assert all(v < own for k, v in m.items() if k != j.label), (j.label, m, t)
    for label, ts in by_class.items():
        assert len(set(ts)) == len(ts), label
        first = {t.split(".")[0] for t in ts}
        assert len(first) >= 6, (label, first)  # many different openings
    words = [len(WORD.findall(t)) for t in texts]
    assert 25 <= sum(words) / len(words) <= 120


def test_styles_follow_the_prompt() -> None:
    kn = knowledge("horse")
    story = compose(Job("horse-1", "horse", 2, "Tell a short story in which a horse plays a role.", 7), kn)
    photo = compose(Job("horse-1", "horse", 1, "Describe what a horse looks like in a photograph.", 7), kn)
    story_words = {"watched", "told", "took", "noticed", "looked", "laughed", "went", "wanted", "talked"}
    assert set(WORD.findall(story)) & story_words
    assert re.search(r"photo|picture|image|frame|camera", photo)


# ------------------------------------------------------------------ the stage: output, resume, OOM
def test_run_writes_generated_table(tmp_path: Path, root: Path) -> None:
    params = _params(root, "text.texts_per_class=3", "text.batch_size=16")
    paths = Paths(tmp_path, "mini")
    run(params, paths)
    t = pq.read_table(paths.generated)
    assert t.schema.equals(GENERATED)
    assert t.num_rows == 3 * len(CLASSES)
    rows = t.to_pylist()
    assert rows[0]["text_id"] == "man-00000" and rows[0]["backend"] == "template"
    assert [r["prompt_id"] for r in rows[:3]] == [0, 1, 2]
    assert rows[-1]["label"] == "whale"
    assert len({r["seed"] for r in rows}) == len(rows)


class _Killed(Exception):
    pass


class _DiesAfter:
    """Wraps a backend and fails like a killed process after `n` batches."""

    def __init__(self, inner: TemplateBackend, n: int) -> None:
        self.inner, self.n = inner, n
        self.name, self.model = inner.name, inner.model

    def fingerprint(self) -> dict[str, str]:
        return self.inner.fingerprint()

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        if self.n == 0:
            raise _Killed
        self.n -= 1
        return self.inner.generate(jobs)


def test_killed_run_resumes_to_identical_bytes(tmp_path: Path, root: Path) -> None:
    params = _params(root, "text.texts_per_class=4", "text.batch_size=7")
    whole = Paths(tmp_path / "a", "mini")
    run(params, whole)
    broken = Paths(tmp_path / "b", "mini")
    with pytest.raises(_Killed):
        run(params, broken, backend=_DiesAfter(TemplateBackend(), 3))
    assert not broken.generated.exists()
    parts = sorted(cache_dir(broken, TemplateBackend(), params.text, params.seed).glob("part-*.parquet"))
    assert len(parts) == 3
    # a crash while writing a part leaves at most a hidden temporary file and a torn part
    (parts[0].parent / "part-000003.parquet").write_bytes(b"PAR1 torn")
    resumed = _params(root, "text.texts_per_class=4", "text.batch_size=5")  # batch size may differ
    run(resumed, broken)
    assert broken.generated.read_bytes() == whole.generated.read_bytes()
    # more texts per class later: the cached ones are reused, the table grows
    run(_params(root, "text.texts_per_class=5"), broken)
    assert pq.read_table(broken.generated).num_rows == 5 * len(CLASSES)


class _SmallMemory:
    """A backend that runs out of memory on batches larger than 3."""

    def __init__(self) -> None:
        self.inner = TemplateBackend()
        self.name, self.model = self.inner.name, self.inner.model
        self.sizes: list[int] = []

    def fingerprint(self) -> dict[str, str]:
        return self.inner.fingerprint()

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        self.sizes.append(len(jobs))
        if len(jobs) > 3:
            raise BatchTooLarge("CUDA out of memory")
        return self.inner.generate(jobs)


def test_out_of_memory_halves_the_batch(tmp_path: Path) -> None:
    cfg = Text(texts_per_class=1)
    jobs = jobs_for(cfg, 42)[:20]
    small = _SmallMemory()
    table = generate_all(jobs, small, tmp_path / "parts", batch_size=16)
    assert small.sizes[:4] == [16, 8, 4, 2]
    assert max(small.sizes[4:]) <= 2
    assert table.column("text").to_pylist() == TemplateBackend().generate(jobs)
