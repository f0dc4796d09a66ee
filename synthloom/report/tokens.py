"""Tokens for the lexical diversity figures (distinct-n, self-BLEU), fit to the script.

Space-separated words mean little for Korean, where one spaced unit (어절) carries a
stem and its particles and endings (`병원에`, `병원은`, `병원까지` are one word three
ways), and nothing for Japanese or Chinese, which are not spaced at all. Their words
are counted character by character (Hangul syllables, kana, Han characters), as
character n-gram metrics for these languages do; other words stay words, so a mixed
dataset is measured on both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"\w+", re.UNICODE)
# Hangul syllables and jamo, kana, CJK ideographs.
_BY_CHARACTER = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7a3]")

WORDS = "words"
WORDS_AND_CHARACTERS = "words; Hangul, kana and Han characters one by one"


def metric_tokens(text: str) -> list[str]:
    """Lowercased words, with words in a character-counted script split into characters."""
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        if _BY_CHARACTER.search(word):
            tokens.extend(c for c in word if not c.isspace())
        else:
            tokens.append(word)
    return tokens


def tokenization_of(texts: Iterable[str]) -> str:
    """How `metric_tokens` counted these texts, for the report."""
    return WORDS_AND_CHARACTERS if any(_BY_CHARACTER.search(t) for t in texts) else WORDS
