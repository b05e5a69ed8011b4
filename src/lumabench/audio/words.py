"""Find the class words in a transcript.

A transcript is split into word tokens; a token matches a class when it is exactly the class name or
one of its inflections (`lumabench.classes` `forms`), so "cathedral" never counts as "cat" and
"seahorse" never counts as "horse". Hyphenated compounds ("sea-horse") are spoken as one word and
name a different thing, so their parts are aligned but never cut out as class words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lumabench.classes import LumaClass, by_form

# A word: letters with inner apostrophes (possessives, contractions); hyphens join compounds.
_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)*'?(?:-[a-z]+(?:['’][a-z]+)*'?)*")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Token:
    """One word of a transcript as the aligner sees it, and the class it names (if any)."""

    text: str
    index: int
    compound: bool
    label: str | None


def _normalise(word: str) -> str:
    return word.replace("’", "'").strip("'")


def class_of(word: str) -> LumaClass | None:
    """The class a single (non-compound) word names, allowing a possessive: "horse's" -> horse."""
    w = _normalise(word.lower())
    if not w or "-" in w:
        return None
    cls = by_form(w)  # also "horses'" (plural possessive): the apostrophe is stripped above
    if cls is None and w.endswith("'s"):
        cls = by_form(w[:-2])
    return cls


def tokenize(transcript: str) -> list[Token]:
    """Word tokens in spoken order; compounds are split into their parts for alignment.

    Raises ValueError when the transcript holds digits: their spoken form is ambiguous ("1990"),
    so the aligner could not be given the words actually said.
    """
    if _DIGIT.search(transcript):
        raise ValueError("transcript contains digits; spell numbers out")
    tokens: list[Token] = []
    for match in _WORD.finditer(transcript.lower().replace("’", "'")):
        parts = [_normalise(p) for p in match.group(0).split("-")]
        parts = [p for p in parts if p]
        compound = len(parts) > 1
        for part in parts:
            cls = None if compound else class_of(part)
            tokens.append(Token(part, len(tokens), compound, cls.name if cls else None))
    return tokens


def class_tokens(tokens: list[Token]) -> list[Token]:
    """The tokens that name a class, in spoken order."""
    return [t for t in tokens if t.label is not None]
