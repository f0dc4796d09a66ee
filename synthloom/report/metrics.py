"""Dataset-level diversity metrics: distinct-n, self-BLEU, Vendi score, embedding similarity."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

Tokens = Sequence[str]


def _grams(tokens: Tokens, n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(docs: Sequence[Tokens], n: int) -> float | None:
    """Distinct n-grams over all n-grams of the corpus (Li et al., 2016); None if no n-grams."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for tokens in docs:
        grams = _grams(tokens, n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else None


def _bleu(
    hyp: Tokens,
    hyp_counts: list[Counter[tuple[str, ...]]],
    max_ref: list[dict[tuple[str, ...], int]],
    ref_len: int,
) -> float:
    log_precision = 0.0
    orders = len(hyp_counts)
    for order in range(orders):
        counts = hyp_counts[order]
        total = sum(counts.values())
        if total == 0:
            return 0.0
        clipped = sum(min(c, max_ref[order].get(g, 0)) for g, c in counts.items())
        # Chen & Cherry's smoothing 1: a zero match count becomes a small epsilon.
        log_precision += math.log((clipped or 0.1) / total) / orders
    penalty = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / max(len(hyp), 1))
    return penalty * math.exp(log_precision)


def self_bleu(
    docs: Sequence[Tokens], *, sample: int = 200, seed: int = 0, max_n: int = 4
) -> tuple[float | None, int]:
    """Mean BLEU-4 of each sampled doc against the other sampled docs (Zhu et al., 2018).

    Higher means more alike. Returns the score and how many docs were sampled.
    """
    pool = [list(d) for d in docs if d]
    if len(pool) > sample:
        pool = random.Random(seed).sample(pool, sample)
    if len(pool) < 2:
        return None, len(pool)
    counts = [[Counter(_grams(d, n)) for n in range(1, max_n + 1)] for d in pool]
    # Per n-gram the two largest counts and the doc holding the largest, so each
    # doc's clip counts can exclude itself without rebuilding the references.
    tops: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(max_n)]
    for doc, per_order in enumerate(counts):
        for order, counter in enumerate(per_order):
            table = tops[order]
            for gram, c in counter.items():
                first, holder, second = table.get(gram, (0, -1, 0))
                if c > first:
                    table[gram] = (c, doc, first)
                elif c > second:
                    table[gram] = (first, holder, c)
    lengths = np.array([len(d) for d in pool])
    scores = []
    for doc, hyp in enumerate(pool):
        max_ref: list[dict[tuple[str, ...], int]] = []
        for order in range(max_n):
            refs: dict[tuple[str, ...], int] = {}
            for gram in counts[doc][order]:
                first, holder, second = tops[order][gram]
                refs[gram] = second if holder == doc else first
            max_ref.append(refs)
        others = np.delete(lengths, doc)
        ref_len = int(others[np.argmin(np.abs(others - len(hyp)))])
        scores.append(_bleu(hyp, counts[doc], max_ref, ref_len))
    return float(np.mean(scores)), len(pool)


def mean_pairwise_similarity(vectors: NDArray[np.float32]) -> float | None:
    """Mean cosine similarity over all pairs of unit vectors, in O(n·d) (no pair loop)."""
    n = len(vectors)
    if n < 2:
        return None
    total = vectors.sum(axis=0, dtype=np.float64)
    self_sims = float(np.sum(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)))
    return float((total @ total - self_sims) / (n * (n - 1)))


def vendi_score(vectors: NDArray[np.float32]) -> float | None:
    """Vendi score (Friedman & Dieng, 2023) with the cosine kernel: exp(entropy of K/n).

    K = X·Xᵀ has the same non-zero eigenvalues as Xᵀ·X, so this is O(n·d²), not O(n³).
    Ranges from 1 (all samples alike) to n (all orthogonal).
    """
    n = len(vectors)
    if n == 0:
        return None
    x = vectors.astype(np.float64)
    gram = x.T @ x if n > x.shape[1] else x @ x.T
    eigenvalues = np.linalg.eigvalsh(gram / n)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))


def entropy(counts: Mapping[str, int]) -> tuple[float, float | None]:
    """Shannon entropy (nats) of a distribution, and entropy / log(#categories)."""
    total = sum(counts.values())
    if total == 0:
        return 0.0, None
    probs = [c / total for c in counts.values() if c > 0]
    value = -sum(p * math.log(p) for p in probs)
    normalized = value / math.log(len(counts)) if len(counts) > 1 else None
    return value, normalized


def summary_stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean, median, p10, p90, min and max."""
    if not values:
        return {"n": 0, "mean": None, "median": None, "p10": None, "p90": None}
    array = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "mean": round(float(array.mean()), 3),
        "median": round(float(np.median(array)), 3),
        "p10": round(float(np.percentile(array, 10)), 3),
        "p90": round(float(np.percentile(array, 90)), 3),
        "min": round(float(array.min()), 3),
        "max": round(float(array.max()), 3),
    }
