"""Semantic duplicates: embedding cosine similarity, bucketed so it scales.

Like SemDeDup (Abbas et al., 2023), vectors are clustered with k-means and
compared only within clusters; each vector joins its two nearest clusters so
pairs near a boundary are still compared. Cost is O(n·k + n·s) for clusters
of about `s` vectors instead of O(n²).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray
from scipy.cluster.vq import kmeans2

from synthloom.core.records import Reason
from synthloom.curate.base import BatchFilter
from synthloom.curate.config import DedupSpec
from synthloom.curate.dedup import Duplicate
from synthloom.curate.embedders import embed_normalized, semantic_threshold_for
from synthloom.curate.sample import Sample

CLUSTER_SIZE = 512


def _buckets(vectors: NDArray[np.float32], seed: int) -> list[NDArray[np.intp]]:
    n = len(vectors)
    if n <= 2 * CLUSTER_SIZE:
        return [np.arange(n)]
    k = math.ceil(n / CLUSTER_SIZE)
    centroids, _ = kmeans2(vectors.astype(np.float64), k, seed=seed, minit="++", iter=5)
    scores = vectors @ centroids.astype(np.float32).T
    nearest = np.argsort(-scores, axis=1)[:, :2]
    return [np.flatnonzero((nearest == c).any(axis=1)) for c in range(k)]


def semantic_duplicates(
    vectors: NDArray[np.float32], *, threshold: float, seed: int = 0
) -> list[Duplicate]:
    """Greedy in order: a vector within `threshold` cosine of an earlier kept one is dropped."""
    pairs: dict[int, list[tuple[int, float]]] = {}
    for members in _buckets(vectors, seed):
        if len(members) < 2:
            continue
        sims = vectors[members] @ vectors[members].T
        rows, cols = np.nonzero(np.triu(sims >= threshold, k=1))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            first, later = sorted((int(members[r]), int(members[c])))
            pairs.setdefault(later, []).append((first, float(sims[r, c])))
    kept: set[int] = set()
    found: list[Duplicate] = []
    for index in range(len(vectors)):
        matches = [(sim, -other) for other, sim in pairs.get(index, []) if other in kept]
        if matches:
            sim, neg_other = max(matches)
            found.append(Duplicate(index, -neg_other, sim))
        else:
            kept.add(index)
    return found


class SemanticDedup(BatchFilter):
    """Drops samples whose embedding is nearly identical to an earlier kept sample's."""

    name: ClassVar[str] = "semantic_dedup"

    def __init__(self, spec: DedupSpec, embedder: Embeddings) -> None:
        self.spec = spec
        self.embedder = embedder
        self.threshold = spec.semantic_threshold or semantic_threshold_for(embedder)

    def run(self, samples: Sequence[Sample]) -> dict[str, Reason]:
        """Reasons for semantic duplicates, by id."""
        if not samples:
            return {}
        vectors = embed_normalized(self.embedder, [s.text(self.spec.text) for s in samples])
        found = semantic_duplicates(vectors, threshold=self.threshold)
        return {
            samples[d.index].id: Reason(
                "semantic_duplicate",
                f"of {samples[d.of].id} (cosine {d.similarity:.3f} >= {self.threshold})",
            )
            for d in found
        }
