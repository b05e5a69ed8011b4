"""Per-text checks: readable text, length, names its own class, no other class dominates.

Class mentions count whole words that are a class name or one of its inflections
(lumabench.classes forms), case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from lumabench.classes import by_form
from lumabench.params import TextFilter

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_MAX_WORD_LEN = 30
_MAX_VOWELLESS = 0.2  # fraction of words with no vowel (a e i o u y) above which a text is noise


def words(text: str) -> list[str]:
    return WORD.findall(text)


def class_mentions(text: str) -> Counter[str]:
    """Class name -> how many words of `text` are that class or an inflection of it."""
    out: Counter[str] = Counter()
    for w in words(text):
        c = by_form(w.split("'")[0])
        if c is not None:
            out[c.name] += 1
    return out


def garbage_reason(text: str, cfg: TextFilter) -> str | None:
    """Why `text` is not natural-language text, or None."""
    if not text or not text.strip():
        return "empty text"
    if any(unicodedata.category(ch) in {"Cc", "Cs", "Co"} and ch not in "\n\t\r" for ch in text) or "\ufffd" in text:
        return "contains control, private-use or replacement characters"
    visible = [ch for ch in text if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in visible)
    if letters / len(visible) < cfg.min_letter_fraction:
        return f"only {letters / len(visible):.0%} of characters are letters (< {cfg.min_letter_fraction:.0%})"
    ws = [w.lower() for w in words(text)]
    if not ws:
        return "no words"
    longest = max(ws, key=len)
    if len(longest) > _MAX_WORD_LEN:
        return f"a {len(longest)}-letter word ({longest[:20]}...)"
    vowelless = sum(not re.search(r"[aeiouy]", w) for w in ws) / len(ws)
    if vowelless > _MAX_VOWELLESS:
        return f"{vowelless:.0%} of words have no vowel"
    if len(ws) >= 20:
        distinct = len(set(ws)) / len(ws)
        if distinct < cfg.min_distinct_word_ratio:
            return f"repetitive: {distinct:.0%} distinct words (< {cfg.min_distinct_word_ratio:.0%})"
    return None


def check_text(text: str, label: str, cfg: TextFilter) -> tuple[str, str] | None:
    """(filter, reason) of the first check `text` fails as a passage about `label`, or None."""
    reason = garbage_reason(text, cfg)
    if reason:
        return "garbage", reason
    n = len(words(text))
    if n < cfg.min_words or n > cfg.max_words:
        return "length", f"{n} words (allowed {cfg.min_words}-{cfg.max_words})"
    m = class_mentions(text)
    own = m.get(label, 0)
    if own == 0:
        return "own_class", f"never names its class {label!r}"
    others = {k: v for k, v in m.items() if k != label}
    top = max(others.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    if top is not None and top[1] >= own:
        return "other_class", f"names {top[0]!r} {top[1]}x, its own class {label!r} only {own}x"
    total = sum(others.values())
    if total > cfg.max_other_class_mentions:
        listed = ", ".join(f"{k} {v}x" for k, v in sorted(others.items()))
        return "other_class", f"{total} mentions of other classes ({listed}; max {cfg.max_other_class_mentions})"
    return None
