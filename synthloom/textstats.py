"""Text measures shared by the per-turn checks and the curation filters.

They are pure and cheap (they run on every model call), and content-aware: code,
tables and quotations are masked before prose measures, because repeated lines in a
code listing or a table are structure, not a model stuck in a loop.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)

# When a turn loops (the older Gopher-style share, kept for `curate.heuristics` users
# who set it): more than LOOP_SHARE of its words inside word LOOP_NGRAM-grams that
# occur twice, in turns of LOOP_MIN_WORDS words or more.
LOOP_NGRAM = 4
LOOP_SHARE = 0.35
LOOP_MIN_WORDS = 30

# A degenerate loop: one sentence (or line) said LOOP_REPEATS times in a row, a block of
# sentences said twice in a row covering LOOP_BLOCK_WORDS words, or a short phrase said
# LOOP_PHRASE_REPEATS times in a row. Measured on ShareGPT (README, "Quality gates").
LOOP_REPEATS = 3
LOOP_BLOCK_WORDS = 20
LOOP_PHRASE_REPEATS = 4
LOOP_PHRASE_MAX_WORDS = 12
LOOP_SENTENCE_MIN_WORDS = 3
# The same sentence of this many words said this often anywhere in a turn (not in a
# row), and covering this share of its prose: list items that share a closing line
# ("Contact me on Plug for rates.") stay well under it.
LOOP_SCATTERED_REPEATS = 4
LOOP_SCATTERED_MIN_WORDS = 6
LOOP_SCATTERED_SHARE = 0.4
# A collapsing vocabulary: most words inside repeated 4-grams and a window of 50 words
# with few distinct words (a small model circling one phrase with variations).
COLLAPSE_SHARE = 0.75
COLLAPSE_WINDOW = 50
COLLAPSE_DISTINCT = 0.45
COLLAPSE_MIN_WORDS = 30
# In code the phrase test runs too, stricter: a line of code may repeat a few times.
LOOP_CODE_REPEATS = 6
LOOP_CODE_MIN_WORDS = 30

_FENCE = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_TABLE_ROW = re.compile(r"^[ \t]*\|.*$", re.MULTILINE)
_QUOTE_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_INDENTED_CODE = re.compile(r"(?:^(?: {4}|\t).*\n?){3,}", re.MULTILINE)
# Code pasted without a fence: a line that ends like a statement or opens like one.
_CODE_LINE = re.compile(
    r"^.*(?:[;{}]|\)\s*[,;]?|=>|->)\s*$"
    r"|^\s*(?:import|from|def|class|return|const|let|var|public|private|function|#include|SELECT"
    r"|CREATE|INSERT|if|for|while|elif|else)\b.*[:({=;]"
    r"|^\s*[\w.\[\]'\"]+\s*[-+*/]?=\s*\S"
    r"|^\s*</?[a-zA-Z][^>]*>\s*$"
    r"|^\s*(?:at |File \"|Traceback )",
    re.MULTILINE,
)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
# Songs, poems and scripts repeat lines by design.
_VERSE_MARK = re.compile(
    r"^\s*[\[(]?\s*(?:chorus|refrain|verse|bridge|hook|outro|intro|pre-chorus)\b",
    re.IGNORECASE | re.MULTILINE,
)


def words_of(text: str) -> list[str]:
    """Lowercased word tokens (letters, digits, underscore), punctuation dropped."""
    return _WORD.findall(text.lower())


def strip_fences(text: str) -> str:
    """The text without its fenced code blocks."""
    return _FENCE.sub("\n", text) if "```" in text or "~~~" in text else text


def mask_structure(text: str) -> str:
    """The prose of a turn: fenced, inline and indented code, tables and quotes blanked."""
    if "`" in text or "~~~" in text:
        text = _FENCE.sub("\n", text)
        text = _INLINE_CODE.sub(" ", text)
    if "|" in text:
        text = _TABLE_ROW.sub("", text)
    if ">" in text:
        text = _QUOTE_LINE.sub("", text)
    if "    " in text or "\t" in text:
        text = _INDENTED_CODE.sub("\n", text)
    return _CODE_LINE.sub("", text)


def looks_like_code(text: str) -> bool:
    """Whether a good part of the text's lines are code (pasted without a fence)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return bool(lines) and _CODE_LINE.match(lines[0]) is not None
    code = sum(1 for line in lines if _CODE_LINE.match(line))
    return code >= 2 and code >= 0.2 * len(lines)


def has_verse(text: str) -> bool:
    """Whether the text is laid out as a song or poem (chorus, verse, bridge markers)."""
    return _VERSE_MARK.search(text) is not None


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


def _ids(items: Sequence[str]) -> np.ndarray:
    return np.fromiter((hash(item) for item in items), dtype=np.int64, count=len(items))


def _longest_run(equal: np.ndarray) -> tuple[int, int]:
    """Length and start of the longest stretch of True values ((0, 0) if none)."""
    if not equal.any():
        return 0, 0
    padded = np.concatenate(([0], equal.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    lengths = edges[1::2] - edges[::2]
    best = int(lengths.argmax())
    return int(lengths[best]), int(edges[::2][best])


@dataclass(frozen=True)
class Loop:
    """A degenerate repetition found in a text: what repeats, how often, how long."""

    unit: str  # "sentence", "block", "phrase" or "scattered sentence"
    repeats: int
    words: int

    def describe(self) -> str:
        """A reason people and the model can act on."""
        if self.unit == "few phrases":
            return f"{self.repeats}% of its {self.words} words are the same few phrases again"
        return f"the same {self.unit} {self.repeats} times ({self.words} words)"


def _loop_words(text: str) -> list[str]:
    # Form blanks (\_\_\_) and rules are layout, not words.
    return [w for w in words_of(text) if w.strip("_")]


def _sentences(prose: str) -> list[str]:
    out = []
    for match in _SENTENCE.finditer(prose):
        norm = " ".join(_loop_words(match.group(0)))
        if norm:
            out.append(norm)
    return out


def _sentence_loop(sentences: list[str]) -> Loop | None:
    ids = _ids(sentences)
    for period in range(1, len(sentences) // 2 + 1):
        run, start = _longest_run(ids[period:] == ids[:-period])
        if run < period:
            continue
        repeats = run // period + 1
        block = sum(s.count(" ") + 1 for s in sentences[start : start + period])
        whole = repeats * period >= 0.9 * len(sentences) and block >= LOOP_SENTENCE_MIN_WORDS
        if (repeats >= LOOP_REPEATS and block >= LOOP_SENTENCE_MIN_WORDS) or (
            repeats > LOOP_REPEATS or block >= LOOP_BLOCK_WORDS or whole
        ):
            return Loop("sentence" if period == 1 else "block", repeats, block * repeats)
    return None


def _scattered_loop(sentences: list[str]) -> Loop | None:
    counts = Counter(s for s in sentences if s.count(" ") + 1 >= LOOP_SCATTERED_MIN_WORDS)
    if not counts:
        return None
    sentence, repeats = counts.most_common(1)[0]
    words = repeats * (sentence.count(" ") + 1)
    total = sum(s.count(" ") + 1 for s in sentences)
    if repeats >= LOOP_SCATTERED_REPEATS and words >= LOOP_SCATTERED_SHARE * total:
        return Loop("scattered sentence", repeats, words)
    return None


def _phrase_loop(words: list[str], *, min_repeats: int, min_words: int = 0) -> Loop | None:
    if len(words) < 2 * min_repeats:
        return None
    ids = _ids(words)
    for period in range(1, min(LOOP_PHRASE_MAX_WORDS, len(words) // min_repeats) + 1):
        run, _ = _longest_run(ids[period:] == ids[:-period])
        repeats = run // period + 1
        # Short units must repeat more often: "no, no, no" is emphasis, not a loop.
        needed = max(min_repeats, 6 // period + 1)
        if run >= period and repeats >= needed and run + period >= min_words:
            return Loop("phrase", repeats, run + period)
    return None


def _min_distinct(words: list[str], window: int) -> float:
    if len(words) <= window:
        return len(set(words)) / len(words)
    return min(
        len(set(words[i : i + window])) / window for i in range(0, len(words) - window + 1, 10)
    )


def _collapse(words: list[str], prose: str) -> Loop | None:
    # Lists, forms and scenarios repeat their labels by design; a collapse is prose.
    if len(words) < COLLAPSE_MIN_WORDS or prose.strip().count("\n") >= 3:
        return None
    share = repeated_share(words, LOOP_NGRAM)
    if share >= COLLAPSE_SHARE and _min_distinct(words, COLLAPSE_WINDOW) <= COLLAPSE_DISTINCT:
        return Loop("few phrases", round(share * 100), len(words))
    return None


@lru_cache(maxsize=8192)
def find_loop(text: str) -> Loop | None:
    """A degenerate repetition in the prose of `text`, or None.

    Consecutive repetition is what a model stuck in a loop produces; parallel bullets,
    a chorus sung between verses, or code that repeats a call are not consecutive
    copies of the same sentence, and code and tables are masked first.
    """
    prose = mask_structure(text)
    sentences = _sentences(prose)
    verse = has_verse(prose)
    if not verse:
        found = _sentence_loop(sentences) or _scattered_loop(sentences)
        if found is not None:
            return found
    words = _loop_words(prose)
    found = _phrase_loop(words, min_repeats=LOOP_PHRASE_REPEATS)
    if found is None and not verse:
        found = _collapse(words, prose)
    if found is None and len(prose) < len(text):
        found = _phrase_loop(
            _loop_words(text), min_repeats=LOOP_CODE_REPEATS, min_words=LOOP_CODE_MIN_WORDS
        )
    return found


SHINGLE = 5


@lru_cache(maxsize=8192)
def shingles(text: str, n: int = SHINGLE) -> frozenset[int]:
    """Hashed word n-grams of a text (cached: every turn is compared with each later one)."""
    words = words_of(text)
    if len(words) < n:
        return frozenset([hash(tuple(words))]) if words else frozenset()
    return frozenset(hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1))


def covered_share(text: str, other: frozenset[int], n: int = SHINGLE) -> float:
    """Share of `text`'s words inside word n-grams that also occur in `other`.

    A copy with a few words changed here and there still scores high, a turn that
    quotes one phrase of another scores low.
    """
    words = words_of(text)
    if not words:
        return 0.0
    if len(words) < n:
        return 1.0 if hash(tuple(words)) in other else 0.0
    covered = np.zeros(len(words), dtype=bool)
    for i in range(len(words) - n + 1):
        if hash(tuple(words[i : i + n])) in other:
            covered[i : i + n] = True
    return float(covered.mean())


def uncovered_words(text: str, other: frozenset[int], n: int = SHINGLE) -> list[str]:
    """The words of `text` outside n-grams shared with `other` (what a copy adds)."""
    words = words_of(text)
    if len(words) < n:
        return [] if hash(tuple(words)) in other else words
    covered = np.zeros(len(words), dtype=bool)
    for i in range(len(words) - n + 1):
        if hash(tuple(words[i : i + n])) in other:
            covered[i : i + n] = True
    return [w for w, c in zip(words, covered, strict=True) if not c]
