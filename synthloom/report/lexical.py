"""A lexical embedding used when no semantic embedder is installed.

Hashed, sublinear-tf word 1- and 2-gram vectors: the n-gram kernel the Vendi
score paper also uses. Reports name it, so a lexical figure is never mistaken
for a semantic one.
"""

from __future__ import annotations

import math
import zlib

from langchain_core.embeddings import Embeddings

from synthloom.core.textstats import words_of

DIMENSIONS = 4096


class HashedNgramEmbeddings(Embeddings):
    """Unit-length hashed word 1-2-gram vectors (deterministic, offline, no model)."""

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.model_name = f"hashed-word-1-2-grams-{dimensions}d (lexical)"

    def _vector(self, text: str) -> list[float]:
        words = words_of(text)
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        counts: dict[int, int] = {}
        for gram in grams:
            slot = zlib.crc32(gram.encode()) % self.dimensions
            counts[slot] = counts.get(slot, 0) + 1
        vector = [0.0] * self.dimensions
        for slot, count in counts.items():
            vector[slot] = 1.0 + math.log(count)
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors of the texts."""
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Vector of one text."""
        return self._vector(text)
