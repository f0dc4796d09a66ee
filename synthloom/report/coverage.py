"""Concept coverage: how many planned leaves got accepted samples, and how evenly.

The planned leaves come from a `LeafSet`. Today that is the spec's topic list,
matched on `metadata.topic`; a concept tree plugs in as a `LeafSet` of its leaf
ids matched on `metadata.concept`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from synthloom.report.metrics import entropy

LEAF_KEYS = ("concept", "leaf_id", "topic")


@dataclass(frozen=True)
class LeafSet:
    """The planned leaves and the metadata key that names a sample's leaf."""

    leaves: tuple[str, ...]
    key: str = "topic"
    source: str = "spec topics"

    def leaf_of(self, metadata: Mapping[str, Any]) -> str | None:
        """The sample's leaf, by this set's key (falling back along LEAF_KEYS)."""
        for key in (self.key, *LEAF_KEYS):
            value = metadata.get(key)
            if value is not None:
                return str(value)
        return None


def leaf_set_from_spec(spec: Mapping[str, Any]) -> LeafSet:
    """The planned leaves of a run from its `spec.json` (topics until a tree exists)."""
    topics = [str(t) for t in spec.get("topics") or []]
    return LeafSet(tuple(dict.fromkeys(topics)), key="topic", source="spec topics")


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
    }
