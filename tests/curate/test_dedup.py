"""Exact, near (MinHash-LSH) and semantic duplicates on hand-made samples."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHashLSH

from synthloom.core.records import Reason
from synthloom.curate import dedup as dedup_module
from synthloom.curate.config import DedupSpec
from synthloom.curate.dedup import (
    ExactDedup,
    NearDedup,
    near_duplicates,
    parallel_signatures,
    signatures,
)
from synthloom.curate.semantic import SemanticDedup, semantic_duplicates
from tests.curate.conftest import EXCHANGES, ConceptEmbeddings, dialogue, sample

FEVER = EXCHANGES["When a fever in a child needs a doctor"]
PRESSURE = EXCHANGES["Understanding high blood pressure readings"]


def test_exact_duplicates_ignore_case_punctuation_and_the_system_prompt() -> None:
    first = sample(dialogue(FEVER[0], FEVER[1]), "a", 0)
    shouting = [
        {"role": t["role"], "content": t["content"].upper().replace(",", "")}
        for t in dialogue(FEVER[0], FEVER[1], system="Another system prompt.")
    ]
    copy = sample(shouting, "b", 1)  # type: ignore[arg-type]
    other = sample(dialogue(PRESSURE[0], PRESSURE[1]), "c", 2)
    dropped = ExactDedup(DedupSpec()).run([first, copy, other])
    assert dropped == {"b": Reason("duplicate", "same dialogue text as a")}


def test_near_duplicate_that_differs_in_a_few_words_is_dropped_and_the_first_kept() -> None:
    original = dialogue(FEVER[0], FEVER[2])
    edited = [t.copy() for t in original]
    edited[1]["content"] = edited[1]["content"].replace("two-year-old", "three-year-old")
    edited[2]["content"] = edited[2]["content"].replace("hard to wake", "very hard to wake")
    edited[4]["content"] = edited[4]["content"].replace("five days", "five full days")
    samples = [
        sample(original, "first", 0),
        sample(dialogue(PRESSURE[0], PRESSURE[2]), "other", 1),
        sample(edited, "copy", 2),
        sample(dialogue(FEVER[1], FEVER[3]), "same-topic", 3),
    ]
    assert ExactDedup(DedupSpec()).run(samples) == {}
    dropped = NearDedup(DedupSpec()).run(samples)
    assert list(dropped) == ["copy"]
    assert dropped["copy"].code == "near_duplicate"
    assert dropped["copy"].text.startswith("of first (Jaccard≈")


def test_dialogues_on_the_same_topic_are_not_near_duplicates() -> None:
    samples = [
        sample(dialogue(*pairs[i : i + 2]), f"{topic[:5]}{i}", n)
        for n, (topic, pairs) in enumerate((t, p) for t, p in EXCHANGES.items() for _ in range(1))
        for i in range(0, 3, 2)
    ]
    assert NearDedup(DedupSpec()).run(samples) == {}


def test_signatures_are_the_same_in_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    texts = [
        " ".join(rng.choices(["fever", "child", "doctor", "rest", "water"], k=30))
        for _ in range(40)
    ]
    monkeypatch.setattr(dedup_module, "PARALLEL_MIN", 10)
    parallel = parallel_signatures(texts, ngram=3, num_perm=64, workers=2)
    assert np.array_equal(parallel, signatures(texts, ngram=3, num_perm=64))


def test_near_duplicates_scale_without_pairwise_comparison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    candidates: list[int] = []
    query = MinHashLSH.query

    def counting_query(self: MinHashLSH, sketch: LeanMinHash) -> list[object]:
        found = list(query(self, sketch))
        candidates.append(len(found))
        return found

    monkeypatch.setattr(MinHashLSH, "query", counting_query)
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(vocabulary, k=60)) for _ in range(3000)]
    planted = {}
    for source in range(0, 3000, 100):
        words = texts[source].split()
        words[rng.randrange(60)] = "changed"
        planted[len(texts)] = source
        texts.append(" ".join(words))
    found = {d.index: d.of for d in near_duplicates(texts, threshold=0.7, ngram=3, workers=1)}
    assert found == planted
    # One LSH query per sample, and only the planted pairs (plus a rare collision)
    # come back as candidates: pairwise would verify ~4.6 million pairs.
    assert len(candidates) == len(texts)
    assert len(planted) <= sum(candidates) < 2 * len(planted)


def test_semantic_dedup_catches_a_paraphrase_that_minhash_misses() -> None:
    original = dialogue(
        (
            "My kid has a high temperature. When should I ring the physician?",
            "Phone the doctor if the child is drowsy, not drinking, or the fever lasts days.",
        ),
    )
    paraphrase = dialogue(
        (
            "My toddler has an elevated fever. When should I call the doctor?",
            "Contact the physician if the kid is drowsy, not drinking, "
            "or the temperature lasts days.",
        ),
    )
    samples = [
        sample(original, "a", 0),
        sample(dialogue(PRESSURE[0]), "b", 1),
        sample(paraphrase, "c", 2),
    ]
    assert NearDedup(DedupSpec()).run(samples) == {}
    dropped = SemanticDedup(DedupSpec(semantic_threshold=0.9), ConceptEmbeddings()).run(samples)
    assert list(dropped) == ["c"]
    assert dropped["c"].code == "semantic_duplicate"
    assert dropped["c"].text.startswith("of a (cosine ")


def test_semantic_dedup_buckets_large_batches() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3000, 32)).astype(np.float32)
    dups = base[:50] + rng.normal(scale=0.01, size=(50, 32)).astype(np.float32)
    vectors = np.concatenate([base, dups])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = semantic_duplicates(vectors, threshold=0.99)
    assert {d.index: d.of for d in found} == {3000 + i: i for i in range(50)}


@pytest.mark.parametrize("num_perm", [1, 16, 128, 256])
def test_permutations_are_datasketchs_own(num_perm: int) -> None:
    from datasketch import MinHash

    from synthloom.curate.dedup import SCHEME, SEED, permutations

    a, b = permutations(num_perm)
    expected = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, expected[0]) and np.array_equal(b, expected[1])
