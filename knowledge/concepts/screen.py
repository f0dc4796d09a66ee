"""Screening proposed concepts: duplicates, near-duplicates, over-generic and off-topic names.

A child proposed for a node is compared with that node's existing children and with
its ancestors, and with every other node under the same top-level topic (its cousins
in other branches, through a `NameIndex`). Names are first normalized (case,
punctuation, articles, plurals, roman numerals) and compared exactly; then checked
for near-duplicates by the overlap of their content words and, when an `Embeddings`
model is given, by the cosine similarity of their embeddings (which also catches
rewordings such as "Childhood asthma" / "Asthma in children"). Relevance to the parent's path is
embedding similarity, or without embeddings at least one shared word. Rejected
proposals keep their reason so an expansion can report them.

Cousins are compared by words only (an embedding per pair would be O(tree)), and only
names of two or more content words: a one-word name such as "Diagnosis" recurs under
many branches as many concepts, "Insulin pump therapy" twice under one topic is one.
Across top-level topics the same words name different concepts ("Diet" for gout and
for diabetes), so they are not compared.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from langchain_core.embeddings import Embeddings

RejectKind = Literal["invalid", "duplicate", "near_duplicate", "generic", "off_topic", "budget"]

_ARTICLES = frozenset({"a", "an", "the"})
_STOPWORDS = _ARTICLES | frozenset(
    {
        "and", "or", "of", "in", "on", "for", "to", "with", "without", "by", "at", "from",
        "as", "vs", "versus", "about", "into", "its", "their", "his", "her", "e", "g", "eg",
        "ie", "etc",
    }
)  # fmt: skip
# Words that say nothing about what a subtopic is; a name made only of these (plus
# words of its ancestors) is a catch-all bucket, not a concept.
GENERIC_WORDS = frozenset(
    {
        "other", "general", "generic", "miscellaneous", "misc", "various", "overview",
        "introduction", "intro", "basic", "fundamental", "topic", "subtopic", "aspect",
        "issue", "thing", "stuff", "more", "additional", "related", "concept", "type",
        "kind", "category", "area", "unspecified", "specific", "different", "main", "key",
        "common", "important", "advanced", "part", "section", "subject", "field", "example",
        "question", "detail", "information", "note", "item", "element", "factor", "feature",
    }
)  # fmt: skip
_ROMAN = {
    "i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7",
    "viii": "8", "ix": "9", "x": "10", "xi": "11", "xii": "12",
}  # fmt: skip
_STEM = 5
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("'s ", " ")
    return _WORD.findall(text)


def _stem(word: str) -> str:
    """A light plural stemmer: enough to match 'infections' with 'infection'."""
    if word in _ROMAN:
        return _ROMAN[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


@lru_cache(maxsize=1 << 16)
def normalize_name(name: str) -> str:
    """Case, punctuation, articles, plurals and roman numerals folded; word order kept."""
    words = [_stem(w) for w in _words(name)]
    while len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


@lru_cache(maxsize=1 << 16)
def content_tokens(text: str) -> frozenset[str]:
    """Stemmed words of `text` without stop words (order and repeats dropped)."""
    return frozenset(_stem(w) for w in _words(text) if w not in _STOPWORDS)


def token_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two token sets (1.0 = the same words in any order)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class ScreenRules:
    """Thresholds of the screen (see `ExpandSpec` for what each one means)."""

    similarity_threshold: float = 0.9
    overlap_threshold: float = 0.75
    min_relevance: float = 0.15
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Proposed:
    """A child as the model proposed it."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Verdict:
    """The screen's decision on one proposed child."""

    name: str
    description: str
    accepted: bool
    kind: RejectKind | None = None
    reason: str | None = None


def _order(token: str) -> int:
    # A fixed global order of tokens (any order keeps prefix filtering exact; a hash
    # spreads frequent words over the index instead of sorting them first).
    return zlib.crc32(token.encode("utf-8"))


class NameIndex:
    """Names under one top-level topic, for duplicate checks across its branches.

    Near-duplicates (word Jaccard >= t) are found by prefix filtering: two sets that
    similar share one of the first |A| - ceil(t*|A|) + 1 tokens of A in any fixed order,
    so a lookup touches only names sharing such a token, not the whole tree. `child()`
    is an overlay whose additions (one batch's accepted names) leave this index as is.
    """

    MIN_WORDS = 2

    def __init__(self, threshold: float, parent: NameIndex | None = None) -> None:
        """Index names for matches at word Jaccard `threshold`, on top of `parent`."""
        self.threshold = threshold
        self.parent = parent
        self._exact: dict[str, str] = {}
        self._by_token: dict[str, list[tuple[frozenset[str], str]]] = {}

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        ordered = sorted(tokens, key=lambda t: (_order(t), t))
        keep = len(ordered) - math.ceil(self.threshold * len(ordered) - 1e-9) + 1
        return ordered[: max(1, keep)]

    def add(self, name: str) -> None:
        """Index a name (one of fewer than `MIN_WORDS` content words is not compared)."""
        tokens = content_tokens(name)
        if len(tokens) < self.MIN_WORDS:
            return
        self._exact.setdefault(normalize_name(name), name)
        for token in self._prefix(tokens):
            self._by_token.setdefault(token, []).append((tokens, name))

    def child(self) -> NameIndex:
        """An overlay: names added to it are seen by its lookups, not by this index's."""
        return NameIndex(self.threshold, parent=self)

    def match(self, name: str) -> tuple[str, float] | None:
        """The indexed name `name` duplicates, with its word overlap (1.0: same words)."""
        tokens = content_tokens(name)
        if len(tokens) < self.MIN_WORDS:
            return None
        key = normalize_name(name)
        best: tuple[str, float] | None = None
        index: NameIndex | None = self
        while index is not None:
            if key in index._exact:
                return index._exact[key], 1.0
            for token in index._prefix(tokens):
                for other, other_name in index._by_token.get(token, ()):
                    overlap = token_similarity(tokens, other)
                    if overlap >= self.threshold and (best is None or overlap > best[1]):
                        best = other_name, overlap
            index = index.parent
        return best


@dataclass(frozen=True)
class Family:
    """What a proposed child is compared with: its would-be parent's surroundings."""

    ancestors: Sequence[str]
    """Names from the root down to the parent (the parent last)."""
    siblings: Sequence[str]
    """Names of the parent's existing children."""
    context: Sequence[str]
    """Lines the child must relate to: ancestors' names and descriptions, grounding snippets."""
    cousins: NameIndex | None = None
    """Every name under the same top-level topic (the caller adds the children it keeps)."""

    @property
    def context_text(self) -> str:
        """The context as one text (what embeddings compare a child with)."""
        return "\n".join(self.context)


@dataclass
class Screener:
    """Screens proposals; with `embeddings`, near-duplicates and relevance are semantic.

    Embedding vectors are cached by text, so a node's name is embedded once per
    expansion however many times it is compared. Call `prepare` with every text a
    batch will compare, then `screen` per parent (one embedding request per batch).
    """

    rules: ScreenRules = ScreenRules()
    embeddings: Embeddings | None = None
    _vectors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    async def prepare(self, texts: Iterable[str]) -> None:
        """Embed (once) the texts the next `screen` calls will compare."""
        if self.embeddings is None:
            return
        todo = sorted({t for t in texts if t not in self._vectors})
        if not todo:
            return
        vectors = await self.embeddings.aembed_documents(todo)
        for text, vector in zip(todo, vectors, strict=True):
            array = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(array))
            self._vectors[text] = array / norm if norm > 0 else array

    @staticmethod
    def texts_for(proposed: Sequence[Proposed], family: Family) -> list[str]:
        """Every text `screen` embeds for these proposals and this family."""
        return [
            *(p.name for p in proposed),
            *(_about(p) for p in proposed),
            *family.ancestors,
            *family.siblings,
            family.context_text,
        ]

    def screen(self, proposed: Sequence[Proposed], family: Family) -> list[Verdict]:
        """Verdicts in proposal order; accepted children join the siblings of later ones."""
        siblings = list(family.siblings)
        # Token sets are cached per line: ancestors' lines recur across a whole level.
        ancestor_tokens = frozenset().union(*(content_tokens(a) for a in family.ancestors))
        context_tokens = ancestor_tokens.union(*(content_tokens(c) for c in family.context))
        verdicts: list[Verdict] = []
        for child in proposed:
            problem = (
                self._invalid(child)
                or self._duplicate(child.name, siblings, "sibling")
                or self._duplicate(child.name, family.ancestors, "ancestor")
                or self._cousin(child.name, family.cousins)
                or self._generic(child.name, ancestor_tokens, family.ancestors)
                or self._off_topic(child, family.context_text, context_tokens)
            )
            if problem is None:
                siblings.append(child.name)
                verdicts.append(Verdict(child.name, child.description, accepted=True))
            else:
                kind, reason = problem
                verdicts.append(Verdict(child.name, child.description, False, kind, reason))
        return verdicts

    @staticmethod
    def _invalid(child: Proposed) -> tuple[RejectKind, str] | None:
        if not content_tokens(child.name):
            return "invalid", "name has no words"
        return None

    def _duplicate(
        self, name: str, others: Sequence[str], relation: str
    ) -> tuple[RejectKind, str] | None:
        key, tokens = normalize_name(name), content_tokens(name)
        for other in others:
            if normalize_name(other) == key:
                return "duplicate", f"duplicate of {relation} {other!r}"
        for other in others:
            overlap = token_similarity(tokens, content_tokens(other))
            if overlap >= self.rules.overlap_threshold:
                return (
                    "near_duplicate",
                    f"near-duplicate of {relation} {other!r} (words {overlap:.2f})",
                )
            if self.embeddings is not None:
                cosine = float(self._vectors[name] @ self._vectors[other])
                if cosine >= self.rules.similarity_threshold:
                    return (
                        "near_duplicate",
                        f"near-duplicate of {relation} {other!r} (cosine {cosine:.2f})",
                    )
        return None

    @staticmethod
    def _cousin(name: str, cousins: NameIndex | None) -> tuple[RejectKind, str] | None:
        found = cousins.match(name) if cousins is not None else None
        if found is None:
            return None
        other, overlap = found
        if normalize_name(other) == normalize_name(name):
            return "duplicate", f"duplicate of {other!r} in another branch"
        return (
            "near_duplicate",
            f"near-duplicate of {other!r} in another branch (words {overlap:.2f})",
        )

    @staticmethod
    def _generic(
        name: str, ancestor_tokens: frozenset[str], ancestors: Sequence[str]
    ) -> tuple[RejectKind, str] | None:
        own = content_tokens(name) - ancestor_tokens
        parent = ancestors[-1] if ancestors else "the root"
        if not own:
            return "generic", f"over-generic: adds no word to {parent!r} and its ancestors"
        if own <= GENERIC_WORDS:
            return "generic", f"over-generic: only catch-all words ({', '.join(sorted(own))})"
        return None

    def _off_topic(
        self, child: Proposed, context: str, context_tokens: frozenset[str]
    ) -> tuple[RejectKind, str] | None:
        tokens = content_tokens(child.name)
        for term in self.rules.exclude:
            if content_tokens(term) <= tokens:
                return "off_topic", f"off-topic: names the excluded term {term!r}"
        if self.embeddings is not None:
            relevance = float(self._vectors[_about(child)] @ self._vectors[context])
            if relevance < self.rules.min_relevance:
                return "off_topic", f"off-topic: relevance {relevance:.2f} to its parent's path"
            return None
        words = tokens | content_tokens(child.description)
        if not _shares_a_word(words, context_tokens):
            return "off_topic", "off-topic: shares no word with its parent's path or sources"
        return None


def _shares_a_word(tokens: frozenset[str], context: frozenset[str]) -> bool:
    """A shared word, or a shared 5-letter stem ('diabetic' ~ 'diabetes')."""
    if tokens & context:
        return True
    stems = {t[:_STEM] for t in context if len(t) >= _STEM}
    return any(len(t) >= _STEM and t[:_STEM] in stems for t in tokens)


def _about(child: Proposed) -> str:
    return f"{child.name}: {child.description}" if child.description else child.name
