"""Full-text search terms computed in Python, so every database matches the same way.

A searchable row stores `document(title, description)`: its words, each folded and
stemmed, separated by single spaces. A search asks for `query_terms(q)`. The databases only
look up whole terms (PostgreSQL: `to_tsvector('simple', ...)`; SQLite: FTS5 with the plain
`unicode61` tokenizer), so neither's own stemmer, stop words or query syntax plays a part:

- a word is a run of letters and digits; everything else separates words (so `-radio`,
  `"film camera"`, `or`, `NEAR(...)` are just the words radio, film, camera, or, near);
- words are compared without case and accents (`Câmera` = `camera`), after NFKC (`１２` =
  `12`);
- English words are reduced to their Porter stem (`cameras`, `camera` → `camera`;
  `fitting`, `fits` → `fit`); a term matches whole stems only, never a prefix;
- every word of the query must occur (AND); there are no stop words (`the` is a word).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 32  # words of a query that count
MAX_WORD = 100  # longer "words" are not indexed (PostgreSQL refuses lexemes over 2 KB)


def words(text: str) -> list[str]:
    """The words of `text`, folded: NFKC, no accents, case-folded."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFKC", plain).casefold()
    return [w for w in _WORD.findall(folded) if len(w) <= MAX_WORD]


def document(*parts: str | None) -> str:
    """What a row stores to be found: the stems of its text, space-separated."""
    return " ".join(stem(w) for w in words(" ".join(p for p in parts if p)))


def query_terms(q: str) -> list[str]:
    """The distinct stems a search asks for (all must match); [] when it has no words."""
    return list(dict.fromkeys(stem(w) for w in words(q)))[:MAX_TERMS]


# -- the Porter stemmer (M.F. Porter, 1980, as in his reference implementation) -----------


def _consonant(w: str, i: int) -> bool:
    c = w[i]
    if c in "aeiou":
        return False
    if c == "y":
        return i == 0 or not _consonant(w, i - 1)
    return True


def _measure(w: str) -> int:
    """m in [C](VC)^m[V]."""
    m, i, n = 0, 0, len(w)
    while i < n and _consonant(w, i):
        i += 1
    while i < n:
        while i < n and not _consonant(w, i):
            i += 1
        if i >= n:
            break
        while i < n and _consonant(w, i):
            i += 1
        m += 1
    return m


def _has_vowel(w: str) -> bool:
    return any(not _consonant(w, i) for i in range(len(w)))


def _double_consonant(w: str) -> bool:
    return len(w) >= 2 and w[-1] == w[-2] and _consonant(w, len(w) - 1)


def _cvc(w: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (e.g. -hop, -fil)."""
    n = len(w)
    return (
        n >= 3
        and _consonant(w, n - 3)
        and not _consonant(w, n - 2)
        and _consonant(w, n - 1)
        and w[-1] not in "wxy"
    )


_STEP2 = (
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
    ("logi", "log"),
)
_STEP3 = (
    ("icate", "ic"),
    ("ative", ""),
    ("alize", "al"),
    ("iciti", "ic"),
    ("ical", "ic"),
    ("ful", ""),
    ("ness", ""),
)
_STEP4 = (
    "al",
    "ance",
    "ence",
    "er",
    "ic",
    "able",
    "ible",
    "ant",
    "ement",
    "ment",
    "ent",
    "ion",
    "ou",
    "ism",
    "ate",
    "iti",
    "ous",
    "ive",
    "ize",
)


def _by_length(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(suffixes, key=len, reverse=True))


_STEP2_ORDER = tuple(sorted(_STEP2, key=lambda s: len(s[0]), reverse=True))
_STEP3_ORDER = tuple(sorted(_STEP3, key=lambda s: len(s[0]), reverse=True))
_STEP4_ORDER = _by_length(_STEP4)


def _replace(w: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    # The longest suffix that matches decides; it is replaced only if the stem is long
    # enough (otherwise the word stays as it is).
    for suffix, replacement in rules:
        if w.endswith(suffix):
            base = w[: -len(suffix)]
            return base + replacement if _measure(base) > min_measure else w
    return w


def _step1(w: str) -> str:
    if w.endswith("sses") or w.endswith("ies"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if w.endswith("eed"):
        if _measure(w[:-3]) > 0:
            w = w[:-1]
    else:
        for suffix in ("ed", "ing"):
            if w.endswith(suffix) and _has_vowel(w[: -len(suffix)]):
                w = w[: -len(suffix)]
                if w.endswith(("at", "bl", "iz")):
                    w += "e"
                elif _double_consonant(w) and w[-1] not in "lsz":
                    w = w[:-1]
                elif _measure(w) == 1 and _cvc(w):
                    w += "e"
                break
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    return w


def _step4(w: str) -> str:
    for suffix in _STEP4_ORDER:
        if w.endswith(suffix):
            base = w[: -len(suffix)]
            if suffix == "ion" and not base.endswith(("s", "t")):
                return w
            return base if _measure(base) > 1 else w
    return w


def _step5(w: str) -> str:
    if w.endswith("e"):
        base = w[:-1]
        m = _measure(base)
        if m > 1 or (m == 1 and not _cvc(base)):
            w = base
    if w.endswith("ll") and _measure(w) > 1:
        w = w[:-1]
    return w


def stem(word: str) -> str:
    """The Porter stem of a lower-case English word; other words (digits, other scripts,
    one or two letters) are kept as they are."""
    if len(word) <= 2 or not (word.isascii() and word.isalpha()):
        return word
    w = _step1(word)
    w = _replace(w, _STEP2_ORDER, 0)
    w = _replace(w, _STEP3_ORDER, 0)
    w = _step4(w)
    return _step5(w)
