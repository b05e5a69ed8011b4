"""Offline text backend: varied multi-sentence passages about a class from per-class facts.

Facts come from WordNet (definition, hypernym chain, part meronyms, synonyms) and from the
hand-written table in `facts.py`. A passage has the style the prompt asks for (description,
photograph, story, factual text): an opening sentence, 3-6 body sentences drawn without
replacement from that style's pool, and usually a closing sentence. Every slot in a sentence draws
from a per-text shuffled cycle, so two texts of one class rarely share a phrase in the same place.
The random stream comes only from the job's seed, so a text is the same whatever batch it is in.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lumabench.text.backend import Job
from lumabench.text.facts import FACTS, ClassFacts
from lumabench.wordnet import WordNet, open_wordnet

VERSION = "template-v1"

# ------------------------------------------------------------------ verb inflection
_PAST = {
    "read": "read", "ride": "rode", "build": "built", "fly": "flew", "draw": "drew", "sing": "sang",
    "stand": "stood", "hold": "held", "wind": "wound", "drink": "drank", "dig": "dug", "cut": "cut",
    "blow": "blew", "swim": "swam", "hide": "hid", "feed": "fed", "bring": "brought", "sleep": "slept",
    "catch": "caught", "broadcast": "broadcast", "sneak": "sneaked", "drive": "drove", "shed": "shed",
    "cast": "cast", "light": "lit", "shine": "shone", "strike": "struck", "give": "gave", "grow": "grew",
    "spread": "spread", "make": "made", "run": "ran", "ring": "rang", "sit": "sat", "speed": "sped",
    "eat": "ate", "leap": "leapt", "show": "showed", "go": "went", "see": "saw", "take": "took",
}  # fmt: skip
_DOUBLE = {"trot", "dig", "wag", "flap", "hop", "nap", "grab", "swim", "cut", "skip", "shed", "stop", "drop",
           "run", "sit", "span", "plan", "chat", "jog", "pat", "tap", "tug", "nod", "rub"}  # fmt: skip


def past(phrase: str) -> str:
    """Simple past of a verb phrase whose first word is the verb ("dig a den" -> "dug a den")."""
    verb, _, rest = phrase.partition(" ")
    if verb in _PAST:
        v = _PAST[verb]
    elif verb in _DOUBLE:
        v = verb + verb[-1] + "ed"
    elif verb.endswith("e"):
        v = verb + "d"
    elif verb.endswith("y") and verb[-2] not in "aeiou":
        v = verb[:-1] + "ied"
    else:
        v = verb + "ed"
    return f"{v} {rest}".strip()


def gerund(phrase: str) -> str:
    """Present participle of a verb phrase ("graze on grass" -> "grazing on grass")."""
    verb, _, rest = phrase.partition(" ")
    if verb.endswith("ie"):
        v = verb[:-2] + "ying"
    elif verb in _DOUBLE:
        v = verb + verb[-1] + "ing"
    elif verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        v = verb[:-1] + "ing"
    else:
        v = verb + "ing"
    return f"{v} {rest}".strip()


def plural_subject(phrase: str) -> str:
    """A verb phrase said of many ("wag its tail" -> "wag their tail")."""
    return re.sub(r"\bits\b", "their", phrase)


def with_article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# ------------------------------------------------------------------ sentence pools per style
STYLES: dict[str, dict[str, tuple[str, ...]]] = {
    "description": {
        "open": (
            "{A} is {a_kind} that most people recognise at once.",
            "There is something special about {a}.",
            "{A} is a familiar sight {place}.",
            "Picture {a} {place}.",
            "When people think of {a}, they often imagine something {look} and {look}.",
            "Few things are as easy to describe as {a}.",
        ),
        "body": (
            "{A} is often {look} and {look}, with {feature}.",
            "Most {pl} have {feature} and {feature}.",
            "You can often find {pl} {place} or {place}.",
            "One look at {the} shows {feature}.",
            "{Pl} are often seen {place}.",
            "{fact}",
            "{fact}",
            "{A} may {action}, or {action}.",
            "{Pl} often {action_pl}.",
            "Whether {look} or {look}, {pl} always draw attention.",
            "The dictionary describes {the} this way: {gloss}.",
            "Parts of {a} include the {part} and the {part}.",
            "{A} is a kind of {hyper0}.",
            "Some people call {the} {synonym}.",
            "Seen up close, {the} has {feature}.",
        ),
        "close": (
            "All in all, {a} is {look} and easy to remember.",
            "That is what makes {the} so memorable.",
            "Anyone who has seen {a} will recognise these features.",
            "This is why {pl} are so easy to recognise.",
        ),
    },
    "photo": {
        "open": (
            "The photograph shows {a} {place}.",
            "In this picture, {a} stands out clearly against the background.",
            "The image captures {a} on a {weather} day.",
            "At the centre of the photo is {a}.",
            "This is a close-up photograph of {a}.",
        ),
        "body": (
            "{The} is {look}, with {feature}.",
            "In the photo, {the} is {action_ing}.",
            "The {light} light highlights {feature}.",
            "The background is slightly blurred, so {the} is the clear focus of the picture.",
            "The colours are {mood}, and {the} looks {look}.",
            "From this angle you can see {feature} and {feature}.",
            "The camera was held at eye level, close to {the}.",
            "The setting is easy to read: {the} is {place}.",
            "Nothing else in the frame distracts from {the}.",
            "{fact}",
            "Small details, such as the {part}, are visible in the picture.",
        ),
        "close": (
            "It is a simple but striking photograph of {a}.",
            "Overall, the picture gives a clear view of {a}.",
            "The photo shows how {look} {a} can look.",
        ),
    },
    "story": {
        "open": (
            "One {time}, {name} went {setting} and saw {a}.",
            "{name} had always wanted to see {a} up close.",
            "Long ago, {setting_in}, there was {a} that everyone talked about.",
            "It was a {weather} {time} when {name} first noticed {a}.",
        ),
        "body": (
            "{The} was {look}, with {feature}.",
            "{name} watched as {the} {action_ed}.",
            "Later, {the} {action_ed} while {name} looked on.",
            "{name} told {name2} about the {look} {sg}.",
            "Nobody had expected {the} to be so {look}.",
            "{name2} took a photograph of {the}.",
            "By evening, {the} was {place}.",
            "{name} noticed {feature} and smiled.",
            "{name2} said that {pl} are often found {place}.",
            "For a long moment, {name} simply looked at {the}.",
            "Then {the} {action_ed}, and {name2} laughed.",
        ),
        "close": (
            "From that day on, {name} never forgot {the}.",
            "It was a day {name} would remember, all because of {a}.",
            "{name} went home happy, still thinking about {the}.",
        ),
    },
    "factual": {
        "open": (
            "{A} is {a_kind}.",
            "In a dictionary, the entry for '{sg}' reads: {gloss}.",
            "{fact}",
            "The word '{sg}' names {a_kind}.",
        ),
        "body": (
            "In the classification of things, {the} falls under '{hyper0}', which in turn falls under '{hyper1}'.",
            "{A} is a kind of {hyper0}.",
            "Parts of {a} include the {part} and the {part}.",
            "{Pl} are commonly found {place} and {place}.",
            "{fact}",
            "{fact}",
            "Other names for {the} include '{synonym}'.",
            "Typical features of {pl} are {feature} and {feature}.",
            "{Pl} are usually described as {look} or {look}.",
            "{A} may {action}.",
            "In a dictionary, {the} is described as follows: {gloss}.",
        ),
        "close": (
            "These facts help explain why {pl} are so well known.",
            "In short, {a} is {a_hyper0} with {feature}.",
            "Such facts make {the} a common subject of study.",
        ),
    },
}

_NAMES = ("Anna", "Tomas", "Lena", "Omar", "Priya", "Jonas", "Mei", "Carlos", "Sofia", "Ravi", "Elif", "Hugo",
          "Nadia", "Felix", "Yuki", "Amara")  # fmt: skip
_SETTINGS = ("to a small village", "to the countryside", "to a quiet valley", "to an old farm", "to the coast",
             "to a busy town", "to the city", "to a sunny park")  # fmt: skip
_SETTINGS_IN = ("in a small village", "in a quiet valley", "in a faraway land", "in an old town",
                "in a land of green hills")  # fmt: skip
_TIMES = ("morning", "summer afternoon", "rainy evening", "winter day", "spring morning", "autumn afternoon")
_WEATHER = ("sunny", "grey", "bright", "misty", "windy", "cold", "warm")
_LIGHT = ("soft morning", "warm evening", "bright midday", "cool blue", "golden", "diffuse")
_MOOD = ("warm and natural", "cool and muted", "bright and saturated", "soft and pastel")
_ABSTRACT = {"entity", "physical entity", "abstraction", "object", "whole", "thing", "instrumentality",
             "group", "collection", "matter", "causal agent", "organism", "living thing", "set"}  # fmt: skip


@dataclass(frozen=True)
class ClassKnowledge:
    """Everything the templates may say about one class."""

    facts: ClassFacts
    gloss: str | None
    hypernyms: tuple[str, ...]
    parts: tuple[str, ...]
    synonyms: tuple[str, ...]


def _clean_gloss(definition: str) -> str:
    text = definition.split(";")[0]
    text = re.sub(r"\s*\([^)]*\)", "", text)
    return re.sub(r"\s+", " ", text).strip().rstrip(":,. ")


@functools.lru_cache(maxsize=64)
def knowledge(label: str, wordnet_dir: str | None = None) -> ClassKnowledge:
    """WordNet facts plus the hand-written table for `label`."""
    f = FACTS[label]
    wn: WordNet = open_wordnet(wordnet_dir)
    syn = wn.sense(f.sg, "n", f.hint)
    if syn is None:
        return ClassKnowledge(f, None, (), (), ())
    chain = [h.name for h in wn.hypernym_chain(syn) if h.name not in _ABSTRACT and h.name != f.kind]
    part_syns = wn.part_meronyms(syn)
    ups = wn.hypernyms(syn)
    if ups:
        part_syns += wn.part_meronyms(ups[0])
    parts: list[str] = []
    for p in part_syns:
        if p.name not in parts and f.sg not in p.name:
            parts.append(p.name)
    if f.a:  # a mass noun ("a herd of cattle") has no parts of its own
        parts = []
    syns = [w for w in syn.words if w.lower() not in (f.sg, f.pl) and w[0].islower()]
    return ClassKnowledge(f, _clean_gloss(syn.definition), tuple(chain[:4]), tuple(parts), tuple(syns[:4]))


class _Slots(dict):  # type: ignore[type-arg]
    """format_map source: fixed values, plus cycles that yield the next shuffled phrase per use."""

    def __init__(self, fixed: dict[str, str], cycles: dict[str, Sequence[str]], rng: np.random.Generator) -> None:
        super().__init__(fixed)
        self._cycles = {k: [v[i] for i in rng.permutation(len(v))] for k, v in cycles.items() if v}
        self._pos = dict.fromkeys(self._cycles, 0)

    def available(self, key: str) -> bool:
        return key in self or key in self._cycles

    def __missing__(self, key: str) -> str:
        seq = self._cycles[key]
        i = self._pos[key]
        self._pos[key] = i + 1
        return seq[i % len(seq)]


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _style(prompt: str) -> str:
    p = prompt.lower()
    if "story" in p:
        return "story"
    if "photo" in p or "look" in p or "picture" in p or "image" in p:
        return "photo"
    if "fact" in p or "encyclop" in p or "inform" in p:
        return "factual"
    return "description"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def compose(job: Job, kn: ClassKnowledge) -> str:
    """One passage for `job`, from its own seed only."""
    rng = np.random.Generator(np.random.PCG64(job.seed))
    f = kn.facts
    fixed = {
        "a": f.indefinite,
        "A": _cap(f.indefinite),
        "the": f.definite,
        "The": _cap(f.definite),
        "sg": f.sg,
        "pl": f.pl,
        "Pl": _cap(f.pl),
        "a_kind": with_article(f.kind),
    }
    for i, h in enumerate(kn.hypernyms[:2]):
        fixed[f"hyper{i}"] = h
        fixed[f"a_hyper{i}"] = with_article(h)
    if kn.gloss:
        fixed["gloss"] = kn.gloss
    names = [_NAMES[i] for i in rng.permutation(len(_NAMES))[:2]]
    fixed["name"], fixed["name2"] = names
    cycles: dict[str, Sequence[str]] = {
        "look": f.phrases("looks"),
        "feature": f.phrases("features"),
        "place": f.phrases("places"),
        "action": f.phrases("actions"),
        "action_pl": [plural_subject(a) for a in f.phrases("actions")],
        "action_ed": [past(a) for a in f.phrases("actions")],
        "action_ing": [gerund(a) for a in f.phrases("actions")],
        "fact": [x.format_map(fixed) for x in f.phrases("facts")],
        "part": kn.parts,
        "synonym": kn.synonyms,
        "setting": _SETTINGS,
        "setting_in": _SETTINGS_IN,
        "time": _TIMES,
        "weather": _WEATHER,
        "light": _LIGHT,
        "mood": _MOOD,
    }
    slots = _Slots(fixed, cycles, rng)
    pools = STYLES[_style(job.prompt)]

    def usable(templates: Sequence[str]) -> list[str]:
        out = []
        for t in templates:
            need = _fields(t)
            if all(slots.available(k) for k in need) and ("part" not in need or len(kn.parts) >= 2):
                out.append(t)
        return out

    opening = usable(pools["open"])
    body = usable(pools["body"])
    closing = usable(pools["close"])
    n_body = int(rng.integers(3, 7))
    chosen = [opening[int(rng.integers(len(opening)))]]
    chosen += [body[i] for i in rng.choice(len(body), size=min(n_body, len(body)), replace=False)]
    if rng.random() < 0.75:
        chosen.append(closing[int(rng.integers(len(closing)))])
    sentences = [_cap(t.format_map(slots)) for t in chosen]
    return " ".join(sentences)


class TemplateBackend:
    """Deterministic passages from facts; needs only the WordNet files."""

    name = "template"
    model = VERSION

    def __init__(self, wordnet_dir: str | None = None) -> None:
        self.wordnet_dir = wordnet_dir

    def fingerprint(self) -> dict[str, Any]:
        """Backend version plus a digest of the facts and sentence pools, so edits invalidate the cache."""
        blob = repr((sorted(FACTS.items()), sorted(STYLES.items()), _NAMES, _SETTINGS, _SETTINGS_IN, _TIMES))
        return {"backend": self.name, "model": self.model, "content": hashlib.sha256(blob.encode()).hexdigest()}

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        return [compose(j, knowledge(j.label, self.wordnet_dir)) for j in jobs]
