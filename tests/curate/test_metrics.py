"""Diversity and coverage metrics on inputs whose answers are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from knowledge.concepts import ConceptTree
from synthloom.report.coverage import LeafSet, coverage, leaf_set_for_run
from synthloom.report.html import coverage_figure
from synthloom.report.metrics import (
    distinct_n,
    entropy,
    mean_pairwise_similarity,
    self_bleu,
    vendi_score,
)


def test_distinct_n_counts_unique_ngrams_over_all_ngrams() -> None:
    docs = [["a", "b", "a", "b"], ["a", "b", "c"]]
    assert distinct_n(docs, 1) == pytest.approx(3 / 7)
    assert distinct_n(docs, 2) == pytest.approx(3 / 5)  # ab, ba, ab | ab, bc
    assert distinct_n(docs, 5) is None


def test_self_bleu_is_one_for_copies_and_low_for_unrelated_texts() -> None:
    copy = "the child has a fever and needs fluids and rest today".split()
    assert self_bleu([copy, copy, copy])[0] == pytest.approx(1.0)
    unrelated = [[f"w{i}_{j}" for j in range(12)] for i in range(5)]
    score, sampled = self_bleu(unrelated)
    assert sampled == 5 and score is not None and score < 0.01
    _, sampled = self_bleu([copy] * 500, sample=50)
    assert sampled == 50
    assert self_bleu([copy]) == (None, 1)


def test_vendi_score_ranges_from_one_to_n() -> None:
    same = np.tile(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), (4, 1))
    assert vendi_score(same) == pytest.approx(1.0)
    orthogonal = np.eye(4, dtype=np.float32)
    assert vendi_score(orthogonal) == pytest.approx(4.0)
    # n > d takes the d x d path and must agree with the n x n kernel.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.linalg.eigvalsh((x @ x.T) / 50)
    eig = eig[eig > 1e-12]
    assert vendi_score(x) == pytest.approx(math.exp(-np.sum(eig * np.log(eig))), rel=1e-4)


def test_mean_pairwise_similarity_without_pair_loops() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    expected = (sims.sum() - np.trace(sims)) / (30 * 29)
    assert mean_pairwise_similarity(x) == pytest.approx(float(expected), rel=1e-5)
    assert mean_pairwise_similarity(x[:1]) is None


def test_coverage_share_entropy_and_off_plan_samples() -> None:
    leaves = LeafSet(("a", "b", "c", "d"))
    metas = [{"topic": "a"}, {"topic": "a"}, {"topic": "b"}, {"topic": "zzz"}]
    result = coverage(leaves, metas)
    assert result["covered"] == 2 and result["share"] == 0.5 and result["off_plan"] == 1
    h, normalized = entropy({"a": 2, "b": 1, "c": 0, "d": 0})
    assert result["entropy"] == pytest.approx(round(h, 4))
    assert normalized == pytest.approx(h / math.log(4))
    assert entropy({"a": 1, "b": 1})[1] == pytest.approx(1.0)


def test_a_concept_tree_plugs_in_as_leaf_ids_on_metadata_concept() -> None:
    tree = LeafSet(("E11", "I10"), key="concept", source="concept tree")
    result = coverage(tree, [{"concept": "E11", "topic": "Diabetes"}, {"concept": "E11"}])
    assert result["counts"] == {"E11": 2, "I10": 0} and result["source"] == "concept tree"


def test_coverage_reads_the_leaves_of_the_run_s_saved_concept_tree(tmp_path: Path) -> None:
    tree = ConceptTree.from_seeds(["Fever", "Asthma"], root="Paediatrics")
    fever = next(leaf for leaf in tree.leaves() if tree.name(leaf) == "Fever")
    tree.add(fever, "Febrile seizures", origin="seed")
    tree.add(fever, "Fever in infants", origin="seed")
    tree.save(tmp_path / "concepts.json")
    spec = {"topics": ["unused"], "concepts": {"seeds": ["Fever", "Asthma"]}}
    leaves = leaf_set_for_run(tmp_path, spec)
    assert len(leaves.leaves) == 3 and leaves.key == "leaf"  # Fever is no longer a leaf
    infants = next(leaf for leaf in leaves.leaves if leaves.labels[leaf].endswith("infants"))
    metas = [{"leaf": infants, "topic": "x"}, {"leaf": infants}, {"leaf": fever}]
    result = coverage(leaves, metas)
    assert result["covered"] == 1 and result["off_plan"] == 1
    assert result["labels"][infants] == "Fever > Fever in infants"
    assert result["leaves_by_samples"] == {"0": 2, "2": 1}
    # Without a saved tree the spec's topics are the leaves.
    assert leaf_set_for_run(tmp_path / "elsewhere", spec).leaves == ("unused",)


def test_a_large_tree_is_drawn_as_leaves_by_sample_count() -> None:
    leaves = LeafSet(tuple(f"L{i}" for i in range(100)), key="leaf")
    metas = [{"leaf": f"L{i % 60}"} for i in range(90)]
    result = coverage(leaves, metas)
    assert result["leaves_by_samples"] == {"0": 40, "1": 30, "2": 30}
    figure = coverage_figure(result)
    assert figure.values == [("0 samples", 40), ("1 samples", 30), ("2 samples", 30)]
