"""A small reader of the WordNet 3.0 database files (Debian package `wordnet`).

Why our own reader: the database is plain text with byte offsets (wndb(5WN)), so a few dozen lines
give glosses, hypernyms, meronyms, synonyms and antonyms without a network download or NLTK data.
Shared by the template text generator (facts per class) and the text-noise perturbations
(synonym/antonym replacement).

Reference: Miller, "WordNet: a lexical database for English", CACM 38(11), 1995; file formats in
the wndb(5WN) and morphy(7WN) manual pages.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lumabench.errors import MissingDependencyError

DEFAULT_DIR = Path("/usr/share/wordnet")
ENV_DIR = "LUMABENCH_WORDNET_DIR"
_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_SS_TO_FILE = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}
# morphy(7WN) detachment rules: suffix -> replacement, per part of speech.
_DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}  # fmt: skip


@dataclass(frozen=True)
class Pointer:
    """A relation from a synset (or one of its words) to another synset (or word)."""

    symbol: str
    offset: int
    pos: str
    source: int  # 0: between synsets; else 1-based word index in this synset
    target: int  # 0: between synsets; else 1-based word index in the target synset


@dataclass(frozen=True)
class Synset:
    """One sense: its words, definition, usage examples and relations."""

    offset: int
    pos: str
    lemmas: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    pointers: tuple[Pointer, ...]

    @property
    def name(self) -> str:
        """The first word, with spaces instead of underscores."""
        return self.lemmas[0].replace("_", " ")

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w.replace("_", " ") for w in self.lemmas)


class WordNet:
    """Lookups over one WordNet database directory (index.* and data.* files)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get(ENV_DIR) or DEFAULT_DIR)
        if not (self.root / "index.noun").is_file():
            raise MissingDependencyError(
                "WordNet database not found",
                self.root,
                f"apt-get install wordnet (or set {ENV_DIR} to a WordNet 3.0 dict directory)",
            )
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._data: dict[str, bytes] = {}
        self._exc: dict[str, dict[str, tuple[str, ...]]] = {}
        self._cache: dict[tuple[str, int], Synset] = {}

    # ------------------------------------------------------------------ raw files
    def _index_of(self, pos: str) -> dict[str, tuple[int, ...]]:
        if pos not in self._index:
            table: dict[str, tuple[int, ...]] = {}
            with open(self.root / f"index.{_FILES[pos]}", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith(" "):
                        continue  # licence header
                    f = line.split()
                    p_cnt = int(f[3])
                    synset_cnt = int(f[2])
                    offsets = f[6 + p_cnt : 6 + p_cnt + synset_cnt]
                    table[f[0]] = tuple(int(o) for o in offsets)
            self._index[pos] = table
        return self._index[pos]

    def _exceptions(self, pos: str) -> dict[str, tuple[str, ...]]:
        if pos not in self._exc:
            table: dict[str, tuple[str, ...]] = {}
            path = self.root / f"{_FILES[pos]}.exc"
            if path.is_file():
                for line in path.read_text("utf-8", errors="replace").splitlines():
                    f = line.split()
                    if len(f) >= 2:
                        table[f[0]] = tuple(f[1:])
            self._exc[pos] = table
        return self._exc[pos]

    def synset(self, offset: int, pos: str) -> Synset:
        """The synset at byte `offset` of the data file for `pos` (n, v, a, s, r)."""
        fpos = _SS_TO_FILE[pos]
        key = (fpos, offset)
        if key in self._cache:
            return self._cache[key]
        if fpos not in self._data:
            self._data[fpos] = (self.root / f"data.{_FILES[fpos]}").read_bytes()
        data = self._data[fpos]
        line = data[offset : data.index(b"\n", offset)].decode("utf-8", errors="replace")
        syn = _parse_data_line(line)
        self._cache[key] = syn
        return syn

    # ------------------------------------------------------------------ lookups
    def base_forms(self, word: str, pos: str = "n") -> list[str]:
        """Dictionary forms of `word` (morphy: exception list, then suffix rules), known words only."""
        w = word.lower().replace(" ", "_")
        index = self._index_of(pos)
        out: list[str] = []
        for cand in (w, *self._exceptions(pos).get(w, ())):
            if cand in index and cand not in out:
                out.append(cand)
        for suffix, repl in _DETACH[pos]:
            if w.endswith(suffix) and len(w) > len(suffix):
                cand = w[: len(w) - len(suffix)] + repl
                if cand in index and cand not in out:
                    out.append(cand)
        return out

    def synsets(self, word: str, pos: str = "n") -> list[Synset]:
        """The senses of `word` (or of its base form), most frequent first."""
        out: list[Synset] = []
        for base in self.base_forms(word, pos):
            for off in self._index_of(pos)[base]:
                syn = self.synset(off, pos)
                if syn not in out:
                    out.append(syn)
        return out

    def sense(self, word: str, pos: str = "n", hint: str | None = None) -> Synset | None:
        """The first sense of `word` whose definition or hypernyms mention `hint`, else the first sense."""
        senses = self.synsets(word, pos)
        if not senses:
            return None
        if hint:
            h = hint.lower()
            for syn in senses:
                around = [syn.definition, *(s.name for s in self.hypernyms(syn))]
                if any(h in t.lower() for t in around):
                    return syn
        return senses[0]

    def gloss(self, word: str, pos: str = "n", sense: int = 0) -> str | None:
        """The definition of the `sense`-th sense of `word` (no usage examples)."""
        senses = self.synsets(word, pos)
        return senses[sense].definition if sense < len(senses) else None

    def related(self, syn: Synset, *symbols: str) -> list[Synset]:
        """Synsets reached from `syn` by any of the pointer `symbols` (e.g. '@', '%p')."""
        return [self.synset(p.offset, p.pos) for p in syn.pointers if p.symbol in symbols]

    def hypernyms(self, syn: Synset) -> list[Synset]:
        """Direct hypernyms, including instance hypernyms."""
        return self.related(syn, "@", "@i")

    def hypernym_chain(self, syn: Synset, depth: int = 20) -> list[Synset]:
        """The first-hypernym path from `syn` up to the root (excluding `syn`)."""
        chain: list[Synset] = []
        cur = syn
        while len(chain) < depth:
            ups = self.hypernyms(cur)
            if not ups:
                break
            cur = ups[0]
            chain.append(cur)
        return chain

    def part_meronyms(self, syn: Synset) -> list[Synset]:
        """Parts of `syn` ('%p' pointers)."""
        return self.related(syn, "%p")

    def member_holonyms(self, syn: Synset) -> list[Synset]:
        """Groups `syn` is a member of ('#m' pointers)."""
        return self.related(syn, "#m")

    def synonyms(self, word: str, pos: str = "n") -> list[str]:
        """Other words sharing a sense with `word`, most frequent sense first, without duplicates."""
        bases = set(self.base_forms(word, pos))
        out: list[str] = []
        for syn in self.synsets(word, pos):
            for w in syn.words:
                lw = w.lower()
                if lw.replace(" ", "_") not in bases and lw != word.lower() and lw not in out:
                    out.append(lw)
        return out

    def antonyms(self, word: str, pos: str = "a") -> list[str]:
        """Words linked to `word` by a lexical antonym pointer ('!'), most frequent sense first."""
        bases = set(self.base_forms(word, pos))
        out: list[str] = []
        for syn in self.synsets(word, pos):
            for p in syn.pointers:
                if p.symbol != "!" or p.source == 0:
                    continue
                if syn.lemmas[p.source - 1].lower() not in bases:
                    continue
                target = self.synset(p.offset, p.pos)
                w = target.words[p.target - 1].lower() if p.target else target.name.lower()
                if w not in out:
                    out.append(w)
        return out


_MARKER = re.compile(r"\([a-z]+\)$")


def _parse_data_line(line: str) -> Synset:
    """Parse one data.* line (wndb(5WN)): offset lex_filenum ss_type w_cnt words p_cnt ptrs [frames] | gloss."""
    head, _, gloss = line.partition(" | ")
    f = head.split()
    offset, ss_type = int(f[0]), f[2]
    w_cnt = int(f[3], 16)
    lemmas = tuple(_MARKER.sub("", f[4 + 2 * i]) for i in range(w_cnt))
    i = 4 + 2 * w_cnt
    p_cnt = int(f[i])
    ptrs = []
    for j in range(p_cnt):
        sym, off, pos, st = f[i + 1 + 4 * j : i + 5 + 4 * j]
        ptrs.append(Pointer(sym, int(off), pos, int(st[:2], 16), int(st[2:], 16)))
    definition, examples = _split_gloss(gloss.strip())
    return Synset(offset, ss_type, lemmas, definition, examples, tuple(ptrs))


def _split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """Split a gloss into its definition and its quoted usage examples."""
    examples = tuple(re.findall(r'"([^"]*)"', gloss))
    parts = [p.strip() for p in re.sub(r'"[^"]*"', "", gloss).split(";")]
    definition = "; ".join(p for p in parts if p and not p.startswith("-"))
    return definition, examples


@functools.lru_cache(maxsize=4)
def open_wordnet(root: str | None = None) -> WordNet:
    """A shared reader per directory (indexes load lazily, once)."""
    return WordNet(root)
