"""Concept coverage: how many planned leaves got accepted samples, and how evenly.

The planned leaves come from a `LeafSet`: the leaves of the run's concept tree
(`concepts.json` in the run folder), matched on `metadata.leaf`, or without a tree
the spec's topic list, matched on `metadata.topic`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthloom.curate.rundata import load_run_concepts, run_tree_file
from synthloom.report.metrics import entropy

LEAF_KEYS = ("leaf", "concept", "leaf_id", "topic")


@dataclass(frozen=True)
class LeafSet:
    """The planned leaves and the metadata key that names a sample's leaf."""

    leaves: tuple[str, ...]
    key: str = "topic"
    source: str = "spec topics"
    labels: Mapping[str, str] = field(default_factory=dict)

    def leaf_of(self, metadata: Mapping[str, Any]) -> str | None:
        """The sample's leaf, by this set's key (falling back along LEAF_KEYS)."""
        for key in (self.key, *LEAF_KEYS):
            value = metadata.get(key)
            if value is not None:
                return str(value)
        return None


def leaf_set_from_spec(spec: Mapping[str, Any]) -> LeafSet:
    """The planned leaves of a run without a concept tree: the spec's topics."""
    topics = [str(t) for t in spec.get("topics") or []]
    return LeafSet(tuple(dict.fromkeys(topics)), key="topic", source="spec topics")


def leaf_set_for_run(run_path: Path, spec: Mapping[str, Any]) -> LeafSet:
    """The run's planned leaves: its pinned concept tree's leaves, else the spec's topics."""
    path = run_tree_file(run_path, dict(spec))
    tree = load_run_concepts(run_path, dict(spec))
    if tree is None or path is None:
        return leaf_set_from_spec(spec)
    leaves = tuple(tree.concept_leaves())  # a copied concept is one leaf
    return LeafSet(
        leaves,
        key="leaf",
        source=f"concept tree {path.name}",
        labels={leaf: tree.topic(leaf) for leaf in leaves},
    )


def coverage(leaf_set: LeafSet, metadata: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Share of leaves with at least one sample, entropy of the leaf distribution, counts."""
    counts = dict.fromkeys(leaf_set.leaves, 0)
    off_plan = 0
    for meta in metadata:
        leaf = leaf_set.leaf_of(meta)
        if leaf in counts:
            counts[leaf] += 1
        else:
            off_plan += 1
    covered = sum(1 for c in counts.values() if c > 0)
    value, normalized = entropy(counts)
    # Leaves by how many samples they got: the shape of coverage when there are
    # too many leaves for one bar each.
    spread = Counter(counts.values())
    return {
        "source": leaf_set.source,
        "key": leaf_set.key,
        "leaves": len(counts),
        "covered": covered,
        "share": round(covered / len(counts), 4) if counts else None,
        "entropy": round(value, 4),
        "normalized_entropy": None if normalized is None else round(normalized, 4),
        "off_plan": off_plan,
        "counts": counts,
        "labels": {leaf: leaf_set.labels[leaf] for leaf in counts if leaf in leaf_set.labels},
        "leaves_by_samples": {str(k): spread[k] for k in sorted(spread)},
    }
