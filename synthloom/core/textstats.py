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
LOOP_VERSE_REPEATS = 4
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
# Songs, poems and scripts repeat lines by design.
_VERSE_MARK = re.compile(
    r"^\s*[\[(]?\s*(?:chorus|refrain|verse|bridge|hook|outro|intro|pre-chorus)\b",
    re.IGNORECASE | re.MULTILINE,
)


@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def word_count(text: str) -> int:
    """How many words `text` has (cached with its tokens)."""
    return len(_words(text))


def words_of(text: str) -> list[str]:
    """Lowercased word tokens (letters, digits, underscore), punctuation dropped."""
    return list(_words(text))


def strip_fences(text: str) -> str:
    """The text without its fenced code blocks."""
    return _FENCE.sub("\n", text) if "```" in text or "~~~" in text else text


@lru_cache(maxsize=8192)
def mask_structure(text: str) -> str:
    """The prose of a turn: fenced, inline and indented code, tables and quotes blanked."""
    if "`" in text or "~~~" in text:
        text = _FENCE.sub("\n", text)
        text = _INLINE_CODE.sub(" ", text)
    if "|" in text:
        text = _TABLE_ROW.sub("", text)
    if ">" in text:
        text = _QUOTE_LINE.sub("", text)
    if "\n    " in text or "\n\t" in text:
        text = _INDENTED_CODE.sub("\n", text)
    if any(ch in text for ch in ";{}=>") or "Traceback" in text or ")\n" in text:
        text = _CODE_LINE.sub("", text)
    return text


def looks_like_code(text: str) -> bool:
    """Whether a good part of the text's lines are code (pasted without a fence)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return bool(lines) and _CODE_LINE.match(lines[0]) is not None
    code = sum(1 for line in lines if _CODE_LINE.match(line))
    return code >= 2 and code >= 0.2 * len(lines)


_VERSE_WORDS = ("chorus", "refrain", "verse", "bridge", "hook", "outro", "intro")


def has_verse(text: str) -> bool:
    """Whether the text is laid out as a song or poem (chorus, verse, bridge markers)."""
    low = text.lower()
    if not any(word in low for word in _VERSE_WORDS):
        return False
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
    return np.array([hash(item) for item in items], dtype=np.int64)


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


_BLANKS = re.compile(r"\\_|(?<![^\W_])_+(?![^\W_])")
_LOOP_TOKEN = re.compile(r"\w+|[.!?\n]+")


def _unblanked(text: str) -> str:
    # Form blanks (\_\_\_) and rules are layout, not words.
    return _BLANKS.sub(" ", text) if "_" in text else text


def _loop_words(text: str) -> list[str]:
    return _WORD.findall(_unblanked(text.lower()))


def _sentences(prose: str) -> list[str]:
    """Each sentence or line of the prose as its normalised words (one regex pass)."""
    out: list[str] = []
    current: list[str] = []
    for token in _LOOP_TOKEN.findall(_unblanked(prose.lower())):
        if token[0] in ".!?\n":
            if current:
                out.append(" ".join(current))
                current = []
        else:
            current.append(token)
    if current:
        out.append(" ".join(current))
    return out


def _sentence_loop(sentences: list[str], *, verse: bool = False) -> Loop | None:
    """Sentences said again in a row; in verse only the whole text, or a line 5+ times."""
    ids = _ids(sentences)
    for period in range(1, len(sentences) // 2 + 1):
        equal = ids[period:] == ids[:-period]
        if np.count_nonzero(equal) < period:
            continue  # no stretch of `period` equal sentences: nothing repeats at this period
        run, start = _longest_run(equal)
        if run < period:
            continue
        repeats = run // period + 1
        block = sum(s.count(" ") + 1 for s in sentences[start : start + period])
        whole = repeats * period >= 0.9 * len(sentences) and block >= LOOP_SENTENCE_MIN_WORDS
        if verse:
            # A chorus sung twice in a row is a song; the whole song twice is a loop.
            if whole or repeats > LOOP_VERSE_REPEATS:
                return Loop("sentence" if period == 1 else "block", repeats, block * repeats)
            continue
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
        # Short units must repeat more often: "no, no, no" is emphasis, not a loop.
        needed = max(min_repeats, 6 // period + 1)
        equal = ids[period:] == ids[:-period]
        if np.count_nonzero(equal) < period * (needed - 1):
            continue
        run, _ = _longest_run(equal)
        repeats = run // period + 1
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
    found = _sentence_loop(sentences, verse=verse)
    if found is None and not verse:
        found = _scattered_loop(sentences)
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
def _word_ids(text: str) -> np.ndarray:
    words = _words(text)
    return np.array([hash(w) for w in words], dtype=np.int64)


@lru_cache(maxsize=8192)
def _gram_ids(text: str, n: int) -> np.ndarray:
    """Hashes of the text's word n-grams in order (one per start; the whole text if short)."""
    ids = _word_ids(text)
    if not len(ids):
        return ids
    if len(ids) < n:
        return np.array([hash(_words(text))], dtype=np.int64)
    # A rolling polynomial over word hashes: one vector pass instead of a tuple per gram.
    size = len(ids) - n + 1
    grams = ids[:size].copy()
    with np.errstate(over="ignore"):
        for offset in range(1, n):
            grams = grams * np.int64(1_000_003) + ids[offset : offset + size]
    return grams


@lru_cache(maxsize=8192)
def _gram_list(text: str, n: int) -> list[int]:
    return _gram_ids(text, n).tolist()  # type: ignore[no-any-return]


@lru_cache(maxsize=8192)
def _gram_set(text: str, n: int) -> frozenset[int]:
    return frozenset(_gram_list(text, n))


def shingles(text: str, n: int = SHINGLE) -> frozenset[int]:
    """Hashed word n-grams of a text, as a set."""
    return _gram_set(text, n)


def _covered(text: str, other: str, n: int) -> np.ndarray:
    size = len(_words(text))
    theirs = _gram_set(other, n)
    hits = np.array([g in theirs for g in _gram_list(text, n)], dtype=np.int8)
    if not size or not len(hits):
        return np.zeros(size, dtype=bool)
    if size < n:
        return np.full(size, bool(hits[0]))
    # A word is covered when any n-gram holding it is shared.
    return np.convolve(hits, np.ones(n, dtype=np.int8))[:size] > 0


def covered_share(text: str, other: str, n: int = SHINGLE) -> float:
    """Share of `text`'s words inside word n-grams that also occur in `other`.

    A copy with a few words changed here and there still scores high, a turn that
    quotes one phrase of another scores low.
    """
    covered = _covered(text, other, n)
    return float(covered.mean()) if len(covered) else 0.0


def uncovered_words(text: str, other: str, n: int = SHINGLE) -> list[str]:
    """The words of `text` outside n-grams shared with `other` (what a copy adds)."""
    covered = _covered(text, other, n)
    return [w for w, c in zip(_words(text), covered, strict=True) if not c]


def prompt_grams(texts: tuple[str, ...], n: int) -> frozenset[int]:
    """The n-gram hashes of several texts (prompt files), for `shares_gram`."""
    out: set[int] = set()
    for text in texts:
        out |= _gram_set(text, n)
    return frozenset(out)


def shares_gram(text: str, grams: frozenset[int], n: int) -> bool:
    """Whether `text` has any word n-gram in `grams`."""
    return bool(grams) and not grams.isdisjoint(_gram_list(text, n))
