"""Retrieval: the chunks that ground one sample, relevant and not redundant.

Candidates come from Chroma's HNSW index (cosine); those under the relevance floor
are dropped, however few remain, because an off-topic snippet in a prompt invites
unfaithful answers. The rest are chosen by maximal marginal relevance (MMR), so
four snippets tell four things instead of one thing four times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from knowledge.embeddings import Vectors, queries_array

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection


@dataclass(frozen=True)
class Chunk:
    """A retrieved passage: its id (a content hash), text, origin and relevance."""

    id: str
    text: str
    source: str
    title: str
    position: int
    score: float
    section: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-native form, for graph state and records."""
        return asdict(self)


def mmr(
    relevance: Sequence[float] | Vectors,
    vectors: Vectors,
    k: int,
    *,
    lambda_mult: float,
    noise: Vectors | None = None,
) -> list[int]:
    """Indices chosen by maximal marginal relevance.

    Unlike langchain's helper this takes the relevance scores directly (they may be
    the best over several queries) and an optional per-candidate perturbation, which
    is how demo selection varies between samples while staying deterministic.
    """
    rel = np.asarray(relevance, dtype=np.float32)
    if noise is not None:
        rel = rel + noise
    count = min(k, len(rel))
    if count <= 0:
        return []
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    redundancy = np.full(len(rel), -np.inf, dtype=np.float32)
    available = np.ones(len(rel), dtype=bool)
    for _ in range(count):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        score = lambda_mult * rel - (1.0 - lambda_mult) * penalty
        score[~available] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return chosen


class Retriever:
    """Top-k chunks for a query, with a relevance floor and MMR diversity."""

    def __init__(
        self,
        collection: Collection,
        embeddings: Embeddings,
        *,
        top_k: int = 4,
        fetch_k: int = 24,
        min_relevance: float = 0.25,
        mmr_lambda: float = 0.7,
    ) -> None:
        self.collection = collection
        self.embeddings = embeddings
        self.top_k = top_k
        self.fetch_k = fetch_k
        self.min_relevance = min_relevance
        self.mmr_lambda = mmr_lambda

    def retrieve(self, query: str, k: int | None = None) -> list[Chunk]:
        """The best chunks for one query, most relevant first."""
        return self.retrieve_many([query], k)

    def retrieve_many(self, queries: Sequence[str], k: int | None = None) -> list[Chunk]:
        """The best chunks for several angles on one subject (e.g. a concept and its details).

        A candidate's relevance is its best score over the queries; MMR then picks
        `k` of those above the floor.
        """
        k = self.top_k if k is None else k
        queries = [q for q in queries if q.strip()]
        if k <= 0 or not queries:
            return []
        candidates: dict[str, tuple[float, Chunk, Vectors]] = {}
        for score, chunk, vector in self._candidates(queries, max(self.fetch_k, k)):
            best = candidates.get(chunk.id)
            if best is None or score > best[0]:
                candidates[chunk.id] = (score, chunk, vector)
        pool = [c for c in candidates.values() if c[0] >= self.min_relevance]
        if not pool:
            return []
        pool.sort(key=lambda c: (-c[0], c[1].id))
        vectors = np.stack([c[2] for c in pool])
        picked = mmr([c[0] for c in pool], vectors, k, lambda_mult=self.mmr_lambda)
        return sorted((pool[i][1] for i in picked), key=lambda c: (-c.score, c.id))

    async def aretrieve(self, query: str, k: int | None = None) -> list[Chunk]:
        """`retrieve` off the event loop (embedding and Chroma calls block)."""
        return await asyncio.to_thread(self.retrieve, query, k)

    async def aretrieve_many(self, queries: Sequence[str], k: int | None = None) -> list[Chunk]:
        """`retrieve_many` off the event loop."""
        return await asyncio.to_thread(self.retrieve_many, queries, k)

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id (score 1.0), in the order given; unknown ids are left out."""
        if not ids:
            return []
        result = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            cid: _chunk(cid, doc, meta, 1.0)
            for cid, doc, meta in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
            )
        }
        return [found[i] for i in ids if i in found]

    def _candidates(self, queries: Sequence[str], n: int) -> list[tuple[float, Chunk, Vectors]]:
        """Candidates of every query, from one embedding batch and one Chroma call."""
        result = self.collection.query(
            query_embeddings=queries_array(self.embeddings, queries),
            n_results=n,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        out = []
        # One row per query; Chroma types the embeddings row loosely (an ndarray).
        columns: tuple[Any, ...] = (
            result["ids"],
            result["documents"] or [],
            result["metadatas"] or [],
            result["distances"] or [],
            result["embeddings"] or [],
        )
        for ids, docs, metas, distances, embeds in zip(*columns, strict=True):
            for cid, doc, meta, distance, emb in zip(
                ids, docs, metas, distances, embeds, strict=True
            ):
                score = round(1.0 - float(distance), 6)
                vector = np.asarray(emb, dtype=np.float32)
                out.append((score, _chunk(cid, doc, meta, score), vector))
        return out


def _chunk(cid: str, document: str | None, meta: Any, score: float) -> Chunk:
    meta = meta or {}
    return Chunk(
        id=cid,
        text=document or "",
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        position=int(meta.get("position", 0)),
        score=score,
        section=str(meta.get("section", "")),
    )
