"""Text perturbations for sample noise (LUMA-SPEC §4), offline and seeded; results are strings.

Perturbations: keyboard typos (QWERTY neighbours), OCR confusions, random character edits, word
swap, word deletion, spelling errors (rule-based common misspelling patterns: doubled/undoubled
consonants, ie/ei, vowel confusions, dropped silent e), WordNet synonym and antonym replacement
(Miller 1995; the Debian `wordnet` files through lumabench.wordnet), and back-translation
(English→German→English with MarianMT, Junczys-Dowmunt et al. 2018) in the full profile only.
Synonym, antonym and deletion never touch a class word, so the noise does not change the label.

Word masking (`word_mask`) is not one of LUMA's perturbations: it is the text noise of EAU's
robustness protocol (Gao et al., "Embracing Unimodal Aleatoric Uncertainty for Robust Multimodal
Fusion", CVPR 2024: each word masked with probability p = 0.1·ε on half of the test items). Every
word is replaced by `[MASK]` independently with probability `text.mask_rate`, class words included
(the encoders mask class words anyway). `[MASK]` is the mask token of both text encoders of the
project (MiniLM's and BERT-base-uncased's WordPiece vocabulary, id 103), the same token the
class-word masking of `features.pretrained` inserts, so the encoder reads it as "a word is hidden
here", not as the letters of an unknown word.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

import numpy as np

from lumabench import classes
from lumabench.errors import MissingDependencyError, ParamsError
from lumabench.local_models import from_local_cache
from lumabench.wordnet import open_wordnet

log = logging.getLogger(__name__)

WORD = re.compile(r"[A-Za-z]+")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_POS = {ch: (r, c) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
KEYBOARD = {
    ch: "".join(
        _ROWS[r2][c2]
        for r2 in (r - 1, r, r + 1)
        for c2 in (c - 1, c, c + 1)
        if 0 <= r2 < 3 and 0 <= c2 < len(_ROWS[r2]) and (r2, c2) != (r, c)
    )
    for ch, (r, c) in _POS.items()
}
OCR = {
    "o": "0", "l": "1", "i": "1", "z": "2", "e": "3", "a": "4", "s": "5", "g": "9", "b": "8", "t": "7",
    "q": "9", "m": "rn", "w": "vv", "d": "cl", "h": "b", "n": "ri", "u": "v", "c": "e", "f": "t",
}  # fmt: skip
STOP = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
    "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "he",
    "she", "they", "we", "you", "i", "his", "her", "their", "our", "your", "my", "me", "him", "them", "us",
    "not", "no", "so", "than", "then", "there", "here", "do", "does", "did", "has", "have", "had", "can",
    "could", "will", "would", "should", "may", "might", "must", "which", "who", "whom", "what", "when", "where",
    "why", "how", "all", "any", "each", "some", "such", "very", "just", "also", "into", "over", "under", "about"
))  # fmt: skip
_CLASS_FORMS = frozenset(f for c in classes.CLASSES for f in c.forms)
VOWELS = "aeiou"


def _match_case(src: str, new: str) -> str:
    if src.isupper() and len(src) > 1:
        return new.upper()
    if src[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _splice(text: str, edits: dict[tuple[int, int], str]) -> str:
    """Replace spans (start, end) of `text` by new strings (spans must not overlap)."""
    out, last = [], 0
    for (s, e), new in sorted(edits.items()):
        out.append(text[last:s])
        out.append(new)
        last = e
    out.append(text[last:])
    return "".join(out)


def _pick(rng: np.random.Generator, items: list, lo: int, hi: int) -> list:
    """Between lo and hi (inclusive) distinct items, in their original order."""
    if not items:
        return []
    n = min(len(items), int(rng.integers(lo, hi + 1)))
    idx = np.sort(rng.choice(len(items), size=n, replace=False))
    return [items[i] for i in idx]


def _typo(word: str, rng: np.random.Generator, n_chars: int) -> str:
    chars = list(word)
    letters = [i for i, ch in enumerate(chars) if ch.lower() in KEYBOARD]
    for i in _pick(rng, letters, min(n_chars, len(letters)), min(n_chars, len(letters))):
        near = KEYBOARD[chars[i].lower()]
        new = near[int(rng.integers(len(near)))]
        chars[i] = new.upper() if chars[i].isupper() else new
    return "".join(chars)


def keyboard(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Keyboard typos: 1–5 characters in each of 1–3 words (3–8 words when heavy)."""
    words = [m for m in WORD.finditer(text) if len(m.group()) >= 2]
    lo, hi = (3, 8) if heavy else (1, 3)
    edits = {}
    for m in _pick(rng, words, lo, hi):
        w = m.group()
        edits[m.span()] = _typo(w, rng, int(rng.integers(1, min(5, len(w)) + 1)))
    return _splice(text, edits)


def ocr(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """OCR confusions: each word with probability 0.5 gets its confusable letters misread (p 0.3 each)."""
    edits = {}
    for m in WORD.finditer(text):
        w = m.group()
        spots = [i for i, ch in enumerate(w) if ch.lower() in OCR]
        if not spots or rng.random() >= 0.5:
            continue
        hit = [i for i in spots if rng.random() < 0.3] or [spots[int(rng.integers(len(spots)))]]
        chars = list(w)
        for i in hit:
            chars[i] = OCR[chars[i].lower()]
        edits[m.span()] = "".join(chars)
    return _splice(text, edits) if edits else _force_one(text, rng, ocr_word)


def ocr_word(w: str, rng: np.random.Generator) -> str:
    spots = [i for i, ch in enumerate(w) if ch.lower() in OCR]
    if not spots:
        return w
    i = spots[int(rng.integers(len(spots)))]
    return w[:i] + OCR[w[i].lower()] + w[i + 1 :]


def _force_one(text: str, rng: np.random.Generator, fn: Callable[[str, np.random.Generator], str]) -> str:
    """Apply a word edit to one random word, so a noisy sample is never left unchanged."""
    words = list(WORD.finditer(text))
    for m in _pick(rng, words, len(words), len(words)):
        new = fn(m.group(), rng)
        if new != m.group():
            return _splice(text, {m.span(): new})
    return text


def _char_op(w: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(len(w)))
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(26))]
    op = int(rng.integers(4))
    if op == 0:  # insert
        return w[:i] + letter + w[i:]
    if op == 1 and len(w) > 1:  # delete
        return w[:i] + w[i + 1 :]
    if op == 2 and len(w) > 1:  # swap with the next character
        j = min(i, len(w) - 2)
        return w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    new = letter if letter != w[i].lower() else "xq"[letter == "x"]
    return w[:i] + (new.upper() if w[i].isupper() else new) + w[i + 1 :]


def char_edit(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Random character insertions, deletions, swaps or substitutions in 1–3 words."""
    words = [m for m in WORD.finditer(text) if len(m.group()) >= 2]
    return _splice(text, {m.span(): _char_op(m.group(), rng) for m in _pick(rng, words, 1, 3)})


def word_swap(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Swap 1–3 pairs of adjacent words."""
    tokens = text.split(" ")
    if len(tokens) < 2:
        return text
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(len(tokens) - 1))
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    return " ".join(tokens)


def word_delete(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Delete 1–3 words (never a class word, never every word)."""
    words = [m for m in WORD.finditer(text) if m.group().lower() not in _CLASS_FORMS]
    if len(words) <= 1:
        return text
    edits = {}
    for m in _pick(rng, words, 1, min(3, len(words) - 1)):
        s, e = m.span()
        if e < len(text) and text[e] == " ":
            e += 1
        elif s > 0 and text[s - 1] == " ":
            s -= 1
        edits[(s, e)] = ""
    return _splice(text, edits)


def misspell(w: str, rng: np.random.Generator) -> str:
    """One common misspelling pattern applied to `w` (unchanged if none applies)."""
    low = w.lower()
    options: list[Callable[[], str]] = []
    for i in range(1, len(low)):
        if low[i] == low[i - 1] and low[i] not in VOWELS:
            options.append(lambda i=i: w[:i] + w[i + 1 :])  # undouble
    for i in range(1, len(low) - 1):
        if low[i] not in VOWELS and low[i - 1] in VOWELS and low[i] != low[i + 1]:
            options.append(lambda i=i: w[: i + 1] + w[i] + w[i + 1 :])  # double
    for pat, rep in (("ie", "ei"), ("ei", "ie"), ("ph", "f"), ("ck", "k"), ("ght", "gt"), ("tion", "shun")):
        j = low.find(pat)
        if j >= 0:
            options.append(
                lambda j=j, pat=pat, rep=rep: w[:j] + _match_case(w[j : j + len(pat)], rep) + w[j + len(pat) :]
            )
    vowel_at = [i for i in range(1, len(low)) if low[i] in VOWELS]
    for i in vowel_at:
        options.append(lambda i=i: w[:i] + "aeiou"[("aeiou".index(low[i]) + 1) % 5] + w[i + 1 :])
    if low.endswith("e") and len(low) > 3:
        options.append(lambda: w[:-1])
    if not options:
        return w
    return options[int(rng.integers(len(options)))]()


def spelling(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Spelling errors: each word of four letters or more is misspelt with probability 0.4."""
    edits = {}
    for m in WORD.finditer(text):
        if len(m.group()) >= 4 and rng.random() < 0.4:
            new = misspell(m.group(), rng)
            if new != m.group():
                edits[m.span()] = new
    return _splice(text, edits) if edits else _force_one(text, rng, misspell)


def _lexical(
    text: str, rng: np.random.Generator, lookup: Callable[[str], list[str]], lo: int, hi: int
) -> tuple[str, int]:
    """Replace lo..hi content words by a word from `lookup` (first sense first); returns (text, count)."""
    words = [
        m for m in WORD.finditer(text)
        if m.group().lower() not in STOP and m.group().lower() not in _CLASS_FORMS and len(m.group()) > 2
    ]  # fmt: skip
    target = int(rng.integers(lo, hi + 1))
    edits: dict[tuple[int, int], str] = {}
    for i in rng.permutation(len(words)):
        m = words[int(i)]
        cands = [c for c in lookup(m.group().lower()) if c.lower() not in _CLASS_FORMS]
        cands = [c for c in cands if " " not in c] or cands  # prefer single words
        if not cands:
            continue
        top = cands[: min(3, len(cands))]
        edits[m.span()] = _match_case(m.group(), top[int(rng.integers(len(top)))])
        if len(edits) >= target:
            break
    return _splice(text, edits), len(edits)


def _related(word: str, relation: str, parts_of_speech: tuple[str, ...]) -> list[str]:
    """WordNet synonyms or antonyms of `word`, without repeats, in the order of `parts_of_speech`."""
    lookup = getattr(open_wordnet(), relation)
    out: list[str] = []
    for pos in parts_of_speech:
        out.extend(s for s in lookup(word, pos) if s not in out)
    return out


def _synonyms(word: str) -> list[str]:
    return _related(word, "synonyms", ("n", "v", "a", "r"))


def _antonyms(word: str) -> list[str]:
    return _related(word, "antonyms", ("a", "r", "v", "n"))


def synonym(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Replace 1–3 content words by a WordNet synonym (from their three most frequent senses' words)."""
    return _lexical(text, rng, _synonyms, 1, 3)[0]


_AUX = re.compile(r"\b(is|are|was|were|can|could|will|would|should|does|do|did|has|have|had)\b", re.IGNORECASE)


def antonym(text: str, rng: np.random.Generator, heavy: bool = False) -> str:
    """Replace 1–3 words by a WordNet antonym; if no word has one, negate the first auxiliary verb."""
    new, count = _lexical(text, rng, _antonyms, 1, 3)
    if count:
        return new
    m = _AUX.search(text)
    if m:
        return text[: m.end()] + " not" + text[m.end() :]
    return "Not " + text[:1].lower() + text[1:] if text else text


MASK_TOKEN = "[MASK]"
# a word for masking: letters and digits, with inner apostrophes or hyphens (don't, well-known)
MASK_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


def word_mask(text: str, rng: np.random.Generator, rate: float = 0.1) -> str:
    """Each word replaced by `[MASK]` independently with probability `rate` (EAU's text noise,
    Gao et al., CVPR 2024); punctuation and spacing stay. One uniform draw per word, in text order,
    so a text and a generator state give one result. Unlike LUMA's perturbations a text may come
    back unchanged (no word drawn): forcing an edit would raise the masking rate above `rate`."""
    if not 0.0 <= rate <= 1.0:
        raise ParamsError(f"text.mask_rate {rate} is not a probability", fix="use a value in [0, 1]")
    words = list(MASK_WORD.finditer(text))
    if not words:
        return text
    hit = rng.random(len(words)) < rate
    return _splice(text, {m.span(): MASK_TOKEN for m, h in zip(words, hit, strict=True) if h})


PERTURBATIONS: dict[str, Callable[[str, np.random.Generator, bool], str]] = {
    "keyboard": keyboard,
    "ocr": ocr,
    "char_edit": char_edit,
    "word_swap": word_swap,
    "word_delete": word_delete,
    "spelling": spelling,
    "synonym": synonym,
    "antonym": antonym,
}


def back_translate(texts: Sequence[str], device: str = "cpu", pivot: str = "de", batch_size: int = 16) -> list[str]:
    """English → pivot → English with the MarianMT opus-mt models, from the local model cache only."""
    try:
        from transformers import MarianMTModel, MarianTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise MissingDependencyError("transformers is not installed", fix="pip install transformers") from exc

    import torch

    def translate(batch: list[str], name: str) -> list[str]:
        fix = f"on a machine with network run: huggingface-cli download {name} (then copy the cache)"
        tok, model = from_local_cache(name, MarianTokenizer, MarianMTModel, device, "back-translation model", fix)
        out: list[str] = []
        for i in range(0, len(batch), batch_size):
            enc = tok(batch[i : i + batch_size], return_tensors="pt", padding=True, truncation=True).to(device)
            with torch.inference_mode():
                gen = model.generate(**enc, num_beams=4, do_sample=False, max_new_tokens=512)
            out.extend(tok.batch_decode(gen, skip_special_tokens=True))
        return out

    there = translate(list(texts), f"Helsinki-NLP/opus-mt-en-{pivot}")
    return translate(there, f"Helsinki-NLP/opus-mt-{pivot}-en")


def perturb_texts(
    texts: Sequence[str],
    kinds: Sequence[str],
    rngs: Sequence[np.random.Generator],
    heavy: bool,
    profile: str,
    device: str = "cpu",
    mask_rate: float = 0.1,
) -> list[str]:
    """Apply kinds[i] to texts[i] with rngs[i]; back-translation runs batched (full profile only);
    `word_mask` masks each word with probability `mask_rate` (`text.mask_rate`)."""
    out = list(texts)
    bt = [i for i, k in enumerate(kinds) if k == "back_translation"]
    if bt and profile != "full":
        raise ParamsError(
            "text perturbation 'back_translation' needs the full profile (a translation model on GPU)",
            fix="remove back_translation from the variant's text.perturbations or use --set profile=full",
        )
    for i, (t, k, r) in enumerate(zip(texts, kinds, rngs, strict=True)):
        if k == "back_translation":
            continue
        if k == "word_mask":
            out[i] = word_mask(t, r, mask_rate)
            continue
        if k not in PERTURBATIONS:
            known = ", ".join([*PERTURBATIONS, "word_mask", "back_translation"])
            raise ParamsError(f"unknown text perturbation {k!r}", fix=f"choose from {known}")
        out[i] = str(PERTURBATIONS[k](t, r, heavy))
    if bt:
        translated = back_translate([texts[i] for i in bt], device=device)
        for i, t in zip(bt, translated, strict=True):
            out[i] = t
    return out
