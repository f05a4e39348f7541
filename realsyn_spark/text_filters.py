"""Pure sentence scores and predicates (no Spark, no models): testable on their own.

The stages apply these inside ``mapInPandas`` or mirror them with Spark built-ins; where a
Spark expression mirrors a function here, the tests check that both agree.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping

# --------------------------------------------------------------------------- emoji / URL

# Emoji blocks and the joiners/selectors that build emoji sequences (flags, skin tones,
# ZWJ families). Dingbats and misc symbols (U+2600-27BF) count: they are emoji in web text.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong..symbols & pictographs extended-A (incl. faces, flags)
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u2b00-\u2bff"  # arrows/stars used as emoji (⭐, ⬆)
    "\u2300-\u23ff"  # misc technical: ⌚ ⏰ ⏳
    "\ufe0f\u200d\u20e3"  # variation selector-16, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # tag sequences (subdivision flags)
    "]"
)

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|ly|gl|gg|xyz|online|site|"
    "uk|de|fr|es|it|nl|ru|cn|jp|kr|in|br|au|ca|us|eu|ch|se|no|pl|be|at|dk|fi|cz|pt|gr|ie|"
    "nz|mx|ar|za|tr|ua|il|sg|hk|tw"
)
_URL = re.compile(
    r"(?i)(?:\b[a-z][a-z0-9+.-]*://\S+)"  # scheme://...
    r"|(?:\bwww\d?\.[^\s/]+)"  # www.example...
    rf"|(?:\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.(?:{_TLDS})"
    r"(?::\d+)?(?:/\S*)?(?=[\s,;:!?)\]\"']|\.(?:\s|$)|$))"  # bare domain, optional path
    r"|(?:\b[\w.+-]+@[\w-]+\.[\w.-]+\b)"  # e-mail addresses
)


def contains_emoji(text: str) -> bool:
    return _EMOJI.search(text) is not None


def contains_url(text: str) -> bool:
    return _URL.search(text) is not None


# --------------------------------------------------------------------------- words

# A word is a whitespace-separated token with at least one letter or digit: punctuation
# on its own ("-", "—", "…") is not a word, "it's" and "3.5" are one word each.
_HAS_ALNUM = re.compile(r"[^\W_]")


def count_words(text: str) -> int:
    return sum(1 for token in text.split() if _HAS_ALNUM.search(token))


# Entropy words: lower-cased maximal runs of letters/digits. The Spark expression
# ENTROPY_WORDS_SQL does the same with Java's Unicode classes.
_ENTROPY_WORD = re.compile(r"[^\W_]+")
ENTROPY_WORDS_SQL = r"regexp_extract_all(lower(text), '[\\p{L}\\p{N}\\p{M}]+', 0)"


def entropy_words(text: str) -> list[str]:
    return _ENTROPY_WORD.findall(text.lower())


def sentence_entropy(words: Iterable[str], probability: Mapping[str, float], base: float) -> float:
    """θ(x) = −Σ p(w) log p(w) over the sentence's words (each occurrence counts), with
    p(w) the word's relative frequency in the whole sentence corpus."""
    total = 0.0
    for word in words:
        p = probability.get(word, 0.0)
        if p > 0:
            total -= p * math.log(p, base)
    return total


# --------------------------------------------------------------------------- CAT

NOMINAL_SUBJECTS = frozenset({"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"})


def cat_scores(doc) -> tuple[int, int]:  # noqa: ANN001 - a spaCy Doc
    """(complexity, actions) of a parsed sentence.

    complexity: the largest number of dependency children of any token (C1 = at least 1);
    actions: verbs (VERB or AUX used as a verb) that have a nominal subject child.
    """
    complexity = max((sum(1 for _ in token.children) for token in doc), default=0)
    actions = sum(
        1
        for token in doc
        if token.pos_ in ("VERB", "AUX")
        and any(child.dep_ in NOMINAL_SUBJECTS for child in token.children)
    )
    return complexity, actions


# --------------------------------------------------------------------------- dedup

_NON_WORD = re.compile(r"[\W_]+")


def normalize_for_dedup(text: str) -> str:
    """Case, whitespace and punctuation folded: 'The cat, sat!' == 'the  cat sat'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())
