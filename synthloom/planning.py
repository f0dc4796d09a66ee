"""Deterministic sample plans: topic (or concept-tree leaf), condition cell and turn budget.

Samples are dealt over the leaves (the spec's `topics`, or the leaves of its concept
tree) and the weighted condition grid by `coverage.Allocator`, so per-leaf counts
differ by at most one and the cells come round evenly. Plan `i` depends only on the
spec, the tree and `i`, so raising `samples` later keeps every earlier plan and its
id: the run extends instead of starting over. A replacement for a lost sample
(`attempt` > 0) keeps its slot's leaf and cell, so the accepted set stays balanced.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from synthloom.allocation import Allocator, ConditionGrid
from synthloom.core.records import Plan
from synthloom.spec import RunSpec

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree


def _rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts))
    return random.Random(hashlib.sha256(key.encode()).digest())


def sample_id(fingerprint: str, plan_body: dict[str, object]) -> str:
    """A stable id: the same plan in the same spec always gets the same id."""
    blob = json.dumps({"spec": fingerprint, **plan_body}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class Planner:
    """Plans of one run: pure functions of (spec, tree, index, attempt)."""

    def __init__(self, spec: RunSpec, tree: ConceptTree | None = None) -> None:
        """Deal over the tree's leaves when there is a tree, else over `spec.topics`."""
        if spec.concepts is not None and tree is None:
            raise ValueError("a spec with `concepts` is planned over its tree: pass the tree")
        self.spec = spec
        self.tree = tree
        self.fingerprint = spec.plan_fingerprint()
        self._tree_key = tree.fingerprint() if tree is not None else None
        # A concept copied under several parents is one slot (`concept_leaves`).
        leaves = tree.concept_leaves() if tree is not None else list(dict.fromkeys(spec.topics))
        grid = ConditionGrid.from_conditions(spec.conditions)
        self.allocator = Allocator(leaves, grid, spec.seed)

    def plan(self, index: int, attempt: int = 0) -> Plan:
        """Sample `index`, or the `attempt`-th replacement of it."""
        slot = self.allocator.assign(index)
        rng = _rng(self.spec.seed, "plan", index, *([attempt] if attempt else []))
        rounds = rng.randint(self.spec.dialogue.rounds.min, self.spec.dialogue.rounds.max)
        if self.tree is None:
            topic, leaf = slot.leaf, None
            body: dict[str, object] = {"index": index, "topic": topic}
        else:
            topic, leaf = self.tree.topic(slot.leaf), slot.leaf
            body = {"index": index, "leaf": leaf, "tree": self._tree_key}
        body |= {"conditions": slot.cell, "rounds": rounds}
        if attempt:
            body["attempt"] = attempt
        return Plan(
            id=sample_id(self.fingerprint, body),
            index=index,
            topic=topic,
            conditions=slot.cell,
            rounds=rounds,
            leaf=leaf,
            attempt=attempt,
        )

    def plans(self) -> Iterator[Plan]:
        """The first try of every sample, in index order."""
        for index in range(self.spec.samples):
            yield self.plan(index)

    def replacements(self, lost: Iterable[Plan]) -> list[Plan]:
        """One more attempt for each lost base-run plan still within `coverage.replacements`."""
        budget = self.spec.coverage.replacements
        return [
            self.plan(p.index, p.attempt + 1)
            for p in lost
            if p.round == 0 and p.parent_id is None and p.attempt < budget
        ]


def make_plan(spec: RunSpec, index: int, tree: ConceptTree | None = None) -> Plan:
    """Plan sample `index` of the run."""
    return Planner(spec, tree).plan(index)


def make_plans(spec: RunSpec, tree: ConceptTree | None = None) -> Iterator[Plan]:
    """All first-try plans of the run, in index order."""
    return Planner(spec, tree).plans()
