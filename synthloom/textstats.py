"""Word-level text measures shared by the per-turn checks and the curation filters."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)

# When a turn loops: more than LOOP_SHARE of its words inside word LOOP_NGRAM-grams
# that occur twice, in turns of LOOP_MIN_WORDS words or more. The dialogue's turn
# check and curation's repetition filter (its defaults) both use these.
LOOP_NGRAM = 4
LOOP_SHARE = 0.35
LOOP_MIN_WORDS = 30


def words_of(text: str) -> list[str]:
    """Lowercased word tokens (letters, digits, underscore), punctuation dropped."""
    return _WORD.findall(text.lower())


def repeated_share(words: list[str], n: int) -> float:
    """Share of words covered by word n-grams that occur more than once (Gopher's loop test)."""
    if len(words) < n + 1:
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for start, gram in enumerate(grams):
        if counts[gram] > 1:
            for offset in range(n):
                covered[start + offset] = True
    return sum(covered) / len(words)
