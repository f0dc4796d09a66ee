"""Exact and near-duplicate removal: normalised-text hashes, then MinHash-LSH.

Near duplicates are found with datasketch's `MinHashLSH` over word shingles, so
100k samples need one index pass, not 5·10⁹ comparisons. Samples are taken in
generation order: each one is queried against the samples kept so far, its LSH
candidates are verified by their estimated Jaccard similarity, and it is either
dropped as a duplicate of the closest kept sample or inserted into the index.
Signatures are computed in worker processes when the batch is large.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from synthloom.core.records import Reason
from synthloom.core.textstats import words_of
from synthloom.curate.base import BatchFilter
from synthloom.curate.config import DedupSpec
from synthloom.curate.sample import Sample

SEED = 1
SCHEME = "affine32"
# Below this many texts, worker processes cost more than they save.
PARALLEL_MIN = 4000
BATCH = 512
_ROLL = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the rolling shingle hash

Signatures = NDArray[np.uint32]


def normalize(text: str) -> str:
    """Lowercase words joined by single spaces: what 'exact duplicate' compares."""
    return " ".join(words_of(text))


def shingle_hashes(text: str, n: int) -> NDArray[np.uint32]:
    """Distinct 32-bit hashes of the text's word n-grams (rolling hash over word CRCs)."""
    # CRC-32 is stable across processes (unlike `hash`), so workers agree.
    crcs = map(zlib.crc32, map(str.encode, words_of(text)))
    words = np.fromiter(crcs, dtype=np.uint64)
    if words.size == 0:
        return np.empty(0, dtype=np.uint32)
    width = min(n, int(words.size))
    count = int(words.size) - width + 1
    acc = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        acc = acc * _ROLL + words[offset : offset + count]
    folded = (acc >> np.uint64(32)) ^ (acc & np.uint64(0xFFFFFFFF))
    return np.unique(folded.astype(np.uint32))


@cache
def permutations(num_perm: int) -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """The affine32 permutation parameters (a, b) datasketch uses for this seed and size.

    Drawn as `datasketch.MinHash(num_perm, seed=1, scheme="affine32")` draws them (an
    odd `a`, any `b`, from one seeded RandomState), so a run's novelty gate does not
    import datasketch (and scipy under it) for two arrays; a test holds them equal.
    """
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: NDArray[np.uint32]) -> NDArray[np.uint32]:
    # MurmurHash3's finalizer: datasketch's affine32 pre-mix of every input hash.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(texts: Sequence[str], *, ngram: int, num_perm: int) -> Signatures:
    """MinHash signatures (rows) of the texts, computed in this process.

    Identical to `datasketch.MinHash(num_perm, seed=1, scheme="affine32")` fed the
    same shingle hashes (a test holds them equal), but computed for a batch of
    texts at once: one array operation per batch instead of several per text.
    """
    a, b = permutations(num_perm)
    out = np.full((len(texts), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    for start in range(0, len(texts), BATCH):
        hashes = [shingle_hashes(t, ngram) for t in texts[start : start + BATCH]]
        rows = [i for i, h in enumerate(hashes) if h.size]
        if not rows:
            continue
        flat = _fmix32(np.concatenate([hashes[i] for i in rows]))
        offsets = np.cumsum([0] + [hashes[i].size for i in rows[:-1]])
        # One row per permutation keeps the reduction over contiguous memory.
        permuted = np.empty((num_perm, flat.size), dtype=np.uint32)
        np.multiply(a[:, None], flat[None, :], out=permuted)  # wraps: mod 2**32, as intended
        permuted += b[:, None]
        out[start + np.asarray(rows)] = np.minimum.reduceat(permuted, offsets, axis=1).T
    return out


def _signatures_job(args: tuple[list[str], int, int]) -> Signatures:
    texts, ngram, num_perm = args
    return signatures(texts, ngram=ngram, num_perm=num_perm)


def parallel_signatures(
    texts: Sequence[str], *, ngram: int, num_perm: int, workers: int = 0
) -> Signatures:
    """Signatures computed by `workers` processes (0: one per core) for large batches."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(texts) < PARALLEL_MIN:
        return signatures(texts, ngram=ngram, num_perm=num_perm)
    size = -(-len(texts) // (workers * 4))
    chunks = [(list(texts[i : i + size]), ngram, num_perm) for i in range(0, len(texts), size)]
    # spawn: forking a process that runs server or event-loop threads is unsafe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = list(pool.map(_signatures_job, chunks))
    return np.concatenate(parts) if parts else np.empty((0, num_perm), dtype=np.uint32)


@dataclass(frozen=True)
class Duplicate:
    """Sample `index` duplicates the kept sample `of` with this estimated similarity."""

    index: int
    of: int
    similarity: float


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float,
    ngram: int = 5,
    num_perm: int = 128,
    workers: int = 0,
) -> list[Duplicate]:
    """Greedy MinHash-LSH dedup in order: the first of each group of near duplicates stays."""
    from datasketch import LeanMinHash, MinHashLSH

    sigs = parallel_signatures(texts, ngram=ngram, num_perm=num_perm, workers=workers)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    found: list[Duplicate] = []
    for index in range(len(texts)):
        sketch = LeanMinHash(seed=SEED, hashvalues=sigs[index], scheme=SCHEME)
        best, best_sim = -1, 0.0
        for key in lsh.query(sketch):
            other = int(key)
            sim = float(np.count_nonzero(sigs[index] == sigs[other])) / num_perm
            if sim >= threshold and (sim > best_sim or (sim == best_sim and other < best)):
                best, best_sim = other, sim
        if best >= 0:
            found.append(Duplicate(index, best, best_sim))
        else:
            lsh.insert(index, sketch, check_duplication=False)
    return found


class ExactDedup(BatchFilter):
    """Drops samples whose normalised text equals an earlier sample's."""

    name: ClassVar[str] = "exact_dedup"

    def __init__(self, spec: DedupSpec) -> None:
        self.spec = spec

    def run(self, samples: Sequence[Sample]) -> dict[str, Reason]:
        """Reasons for exact duplicates, by id."""
        first: dict[str, str] = {}
        dropped: dict[str, Reason] = {}
        for sample in samples:
            key = hashlib.sha256(normalize(sample.text(self.spec.text)).encode()).hexdigest()
            if key in first:
                dropped[sample.id] = Reason(
                    "duplicate", f"same {self.spec.text} text as {first[key]}"
                )
            else:
                first[key] = sample.id
        return dropped


class NearDedup(BatchFilter):
    """Drops near duplicates (MinHash-LSH over word shingles, Jaccard threshold)."""

    name: ClassVar[str] = "near_dedup"

    def __init__(self, spec: DedupSpec) -> None:
        self.spec = spec

    def run(self, samples: Sequence[Sample]) -> dict[str, Reason]:
        """Reasons for near duplicates, by id."""
        spec = self.spec
        found = near_duplicates(
            [s.text(spec.text) for s in samples],
            threshold=spec.threshold,
            ngram=spec.ngram,
            num_perm=spec.num_perm,
            workers=spec.workers,
        )
        return {
            samples[d.index].id: Reason(
                "near_duplicate",
                f"of {samples[d.of].id} (Jaccard≈{d.similarity:.2f} >= {spec.threshold})",
            )
            for d in found
        }
