"""Coverage: spread samples evenly over the concept tree's leaves and the condition grid.

Sample `i` gets a leaf and a condition cell from a pure function of (leaves, grid,
seed, i):

- leaves are dealt in rounds, each round a seeded shuffle of all leaves, so after
  any number of samples the per-leaf counts differ by at most one, and sample `i`
  never changes when N grows (the allocation is prefix-stable);
- a leaf's k-th sample takes slot `offset(leaf) + k` of the condition cycle, so each
  leaf walks through the cells in turn (its own cells are balanced) and the leaves'
  offsets are spread evenly around the cycle (the cells are balanced overall). The
  cycle holds each cell as often as its weight says (weights 2:1 → 2 slots : 1), and
  is permuted with the seed. A grid larger than N is dealt the same way: no cell
  repeats before every cell has been used, with no need to enumerate the grid.

When samples are rejected or fail, `reallocate` plans a replacement attempt for each
lost slot — same leaf, same cell — so the accepted counts stay balanced; after
`max_attempts` a slot is given up and reported, never moved to another leaf.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

from knowledge.concepts import ConceptTree
from synthloom.core import names
from synthloom.core.store import write_json_atomic
from synthloom.survivors import surviving

Cell = dict[str, str]
Outcome = Literal["accepted", "rejected", "failed"]
AttemptKey = tuple[int, int]
# Largest cycle materialized as a shuffled list; larger grids use an affine permutation.
MAX_SHUFFLED_SLOTS = 1 << 16
# Weights are turned into whole slot counts; an attribute's cycle holds at most this many.
MAX_SLOTS_PER_VALUE_LIST = 64


class WeightedLike(Protocol):
    """A condition value with a weight (the spec's `WeightedValue`)."""

    @property
    def value(self) -> str: ...  # noqa: D102

    @property
    def weight(self) -> float: ...  # noqa: D102


def _rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts))
    return random.Random(hashlib.sha256(key.encode()).digest())


def whole_weights(weights: Sequence[float]) -> list[int]:
    """Small whole numbers in the ratio of `weights` (3:1 stays 3:1; 0.7:0.3 → 7:3)."""
    if not weights or any(not math.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(f"weights must be finite and positive, got {list(weights)}")
    fractions = [Fraction(w).limit_denominator(12) for w in weights]
    scale = math.lcm(*(f.denominator for f in fractions))
    counts = [int(f * scale) for f in fractions]
    common = math.gcd(*counts)
    counts = [c // common for c in counts]
    if sum(counts) <= MAX_SLOTS_PER_VALUE_LIST and all(counts):
        return counts
    # Largest remainder over a fixed budget, every value keeping at least one slot.
    total = sum(weights)
    budget = MAX_SLOTS_PER_VALUE_LIST - len(weights)
    exact = [w / total * budget for w in weights]
    counts = [1 + math.floor(x) for x in exact]
    spare = MAX_SLOTS_PER_VALUE_LIST - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - math.floor(exact[i]))
    for i in by_remainder[::-1][:spare]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class ConditionGrid:
    """The condition cells as a cycle of slots: the cartesian grid, or a list of cells."""

    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(name, value slots) per attribute, names sorted; a value repeats per its weight."""
    listed: tuple[tuple[tuple[str, str], ...], ...] | None = None
    """Explicit cells, when built with `of_cells`."""

    @classmethod
    def from_conditions(
        cls, conditions: Mapping[str, Sequence[WeightedLike | str | tuple[str, float]]]
    ) -> ConditionGrid:
        """The weighted cartesian grid of the spec's `conditions`."""
        attributes: list[tuple[str, tuple[str, ...]]] = []
        for name in sorted(conditions):
            pairs = [_pair(v) for v in conditions[name]]
            if not pairs:
                raise ValueError(f"condition {name!r} has no values")
            counts = whole_weights([w for _, w in pairs])
            slots = tuple(v for (v, _), c in zip(pairs, counts, strict=True) for _ in range(c))
            attributes.append((name, slots))
        return cls(attributes=tuple(attributes))

    @classmethod
    def of_cells(cls, cells: Sequence[Mapping[str, str]]) -> ConditionGrid:
        """A cycle over explicit cells (equal weights)."""
        if not cells:
            raise ValueError("no condition cells")
        return cls(listed=tuple(tuple(sorted(c.items())) for c in cells))

    @cached_property
    def size(self) -> int:
        """Slots in one cycle (1 when there are no conditions)."""
        if self.listed is not None:
            return len(self.listed)
        return math.prod(len(slots) for _, slots in self.attributes)

    def cell(self, slot: int) -> Cell:
        """The cell in cycle slot `slot` (mixed-radix over the attributes)."""
        if self.listed is not None:
            return dict(self.listed[slot])
        cell: Cell = {}
        for name, slots in reversed(self.attributes):
            slot, digit = divmod(slot, len(slots))
            cell[name] = slots[digit]
        return dict(sorted(cell.items()))


def _pair(value: WeightedLike | str | tuple[str, float]) -> tuple[str, float]:
    if isinstance(value, str):
        return value, 1.0
    if isinstance(value, tuple):
        return str(value[0]), float(value[1])
    return value.value, float(value.weight)


@dataclass(frozen=True)
class Assignment:
    """Sample slot `index`: its leaf and cell; `attempt` > 0 is a replacement."""

    index: int
    leaf: str
    cell: Cell = field(default_factory=dict)
    attempt: int = 0

    @property
    def key(self) -> AttemptKey:
        """(index, attempt): what outcomes are keyed by."""
        return self.index, self.attempt

    def plan_body(self) -> dict[str, Any]:
        """What a plan id should hash: attempt 0 keeps the id a plain (index, leaf, cell)."""
        body: dict[str, Any] = {"index": self.index, "leaf": self.leaf, "conditions": self.cell}
        if self.attempt:
            body["attempt"] = self.attempt
        return body


# Leaf orders of this many visits are cached; more would grow with `samples`.
_ROUNDS_KEPT = 1024


class Allocator:
    """Deals samples over leaves and condition cells; `assign(i)` is pure and O(1) amortized."""

    def __init__(
        self, leaves: Sequence[str], grid: ConditionGrid | None = None, seed: int = 0
    ) -> None:
        """Fix the leaves (in a stable order), the grid and the seed."""
        if not leaves:
            raise ValueError("no leaves to allocate samples to")
        if len(set(leaves)) != len(leaves):
            raise ValueError("leaves must be distinct")
        self.leaves = list(leaves)
        self.grid = grid or ConditionGrid()
        self.seed = seed
        count, cycle = len(self.leaves), self.grid.size
        ranks = list(range(count))
        _rng(seed, "leaf-offsets").shuffle(ranks)
        # Leaf j starts its walk through the cycle at an evenly spaced offset.
        self._offsets = [rank * cycle // count for rank in ranks]
        self._cycle = cycle
        self._rounds: dict[int, list[int]] = {}
        self._permute = _permutation(cycle, _rng(seed, "cells"))
        self._cells: dict[int, Cell] = {}

    def _round(self, number: int) -> list[int]:
        order = self._rounds.get(number)
        if order is None:
            order = list(range(len(self.leaves)))
            _rng(self.seed, "leaves", number).shuffle(order)
            if len(self._rounds) >= _ROUNDS_KEPT:
                self._rounds.clear()  # plans come in index order: recent rounds are the hot ones
            self._rounds[number] = order
        return order

    def assign(self, index: int) -> Assignment:
        """Sample `index`'s leaf and cell."""
        visit, position = divmod(index, len(self.leaves))
        leaf = self._round(visit)[position]
        slot = self._permute((self._offsets[leaf] + visit) % self._cycle)
        cell = self._cells.get(slot)
        if cell is None:
            cell = self._cells[slot] = self.grid.cell(slot)
        return Assignment(index, self.leaves[leaf], dict(cell))

    def plan(self, n: int, start: int = 0) -> list[Assignment]:
        """Samples `start` .. `start + n - 1`."""
        return [self.assign(i) for i in range(start, start + n)]


def _permutation(size: int, rng: random.Random) -> Callable[[int], int]:
    if size <= MAX_SHUFFLED_SLOTS:
        table = list(range(size))
        rng.shuffle(table)
        return table.__getitem__
    # Too many slots to list: an affine map with a multiplier coprime to the size.
    multiplier = rng.randrange(1, size) | 1
    while math.gcd(multiplier, size) != 1:
        multiplier += 2
    offset = rng.randrange(size)
    return lambda slot: (multiplier * slot + offset) % size


def allocate(
    leaves: Sequence[str],
    cells: ConditionGrid | Sequence[Mapping[str, str]] | None,
    n: int,
    seed: int = 0,
) -> list[Assignment]:
    """The first `n` assignments (per-leaf counts differ by at most one)."""
    if cells is not None and not isinstance(cells, ConditionGrid):
        cells = ConditionGrid.of_cells(cells)
    return Allocator(leaves, cells, seed).plan(n)


def plan_leaves(tree: ConceptTree, n: int, seed: int = 0) -> list[str]:
    """The leaf of each of the first `n` samples over the tree's leaves."""
    allocator = Allocator(tree.concept_leaves(), None, seed)
    return [allocator.assign(i).leaf for i in range(n)]


def reallocate(
    assignments: Iterable[Assignment],
    outcomes: Mapping[AttemptKey, Outcome],
    *,
    max_attempts: int = 3,
) -> list[Assignment]:
    """Replacement attempts for slots whose latest attempt was rejected or failed.

    A replacement keeps the slot's leaf and cell, so the accepted counts per leaf and
    per cell come back to even. A slot with `max_attempts` attempts is given up.
    """
    latest: dict[int, Assignment] = {}
    for a in assignments:
        if a.index not in latest or a.attempt > latest[a.index].attempt:
            latest[a.index] = a
    return [
        Assignment(a.index, a.leaf, dict(a.cell), a.attempt + 1)
        for index, a in sorted(latest.items())
        if outcomes.get(a.key) in ("rejected", "failed") and a.attempt + 1 < max_attempts
    ]


def settle(
    assignments: Sequence[Assignment],
    outcomes: Mapping[AttemptKey, Outcome],
    *,
    max_attempts: int = 3,
) -> list[Assignment]:
    """All attempts the outcomes so far call for: the originals, then replacements in order.

    Deterministic in its inputs, so a resumed run recomputes the same replacement
    plans from the outcomes on disk and skips those already done.
    """
    every = list(assignments)
    fresh = reallocate(every, outcomes, max_attempts=max_attempts)
    while fresh:
        every.extend(fresh)
        fresh = reallocate(fresh, outcomes, max_attempts=max_attempts)
    return every


COUNTS = ("planned", "accepted", "rejected", "failed", "pending", "given_up")
_SLOT = {name: i for i, name in enumerate(COUNTS)}


@dataclass
class NodeCoverage:
    """Samples of one node (a leaf's own, or summed over an inner node's leaves)."""

    planned: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    given_up: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as stored on a tree node."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Balance:
    """How even the accepted counts per leaf are."""

    leaves: int
    min: int
    max: int
    mean: float
    max_deviation: float
    """Largest |count − mean| / mean over leaves (0.1 = within 10% of even)."""


@dataclass
class CoverageReport:
    """Per-leaf and per-cell counts of a plan's outcomes."""

    leaves: dict[str, NodeCoverage]
    cells: dict[str, NodeCoverage]

    def balance(self, of: Literal["accepted", "planned"] = "accepted") -> Balance:
        """Spread of the per-leaf counts."""
        counts = [getattr(c, of) for c in self.leaves.values()] or [0]
        mean = sum(counts) / len(counts)
        deviation = max(abs(c - mean) for c in counts) / mean if mean else 0.0
        return Balance(len(counts), min(counts), max(counts), mean, deviation)

    def apply(self, tree: ConceptTree) -> None:
        """Store coverage on every node (`coverage` attribute, inner nodes summed)."""
        totals: dict[str, list[int]] = {}
        for node in reversed(tree.nodes()):  # children before their parent
            own = totals.setdefault(node, [0] * len(COUNTS))
            leaf = self.leaves.get(node)
            if leaf is not None:
                own[:] = [a + b for a, b in zip(own, leaf.__dict__.values(), strict=True)]
            parent = tree.parent(node)
            if parent is not None:
                up = totals.setdefault(parent, [0] * len(COUNTS))
                up[:] = [a + b for a, b in zip(up, own, strict=True)]
        for node, counts in totals.items():
            tree.graph.nodes[node]["coverage"] = dict(zip(COUNTS, counts, strict=True))


def coverage_report(
    assignments: Iterable[Assignment],
    outcomes: Mapping[AttemptKey, Outcome],
    *,
    max_attempts: int = 3,
) -> CoverageReport:
    """Count planned slots and each attempt's outcome per leaf and per cell."""
    leaves: dict[str, list[int]] = {}
    cells: dict[tuple[tuple[str, str], ...], list[int]] = {}
    latest: dict[int, tuple[Assignment, tuple[tuple[str, str], ...]]] = {}
    for a in assignments:
        key = tuple(sorted(a.cell.items()))
        outcome = outcomes.get(a.key)
        for counts in (leaves.setdefault(a.leaf, [0] * 6), cells.setdefault(key, [0] * 6)):
            if a.attempt == 0:
                counts[0] += 1
            if outcome is not None:
                counts[_SLOT[outcome]] += 1
        if a.index not in latest or a.attempt > latest[a.index][0].attempt:
            latest[a.index] = (a, key)
    for a, key in latest.values():
        outcome = outcomes.get(a.key)
        if outcome is None or (outcome != "accepted" and a.attempt + 1 >= max_attempts):
            slot = _SLOT["pending" if outcome is None else "given_up"]
            leaves[a.leaf][slot] += 1
            cells[key][slot] += 1
    return CoverageReport(
        {k: NodeCoverage(*v) for k, v in leaves.items()},
        {cell_key(dict(k)): NodeCoverage(*v) for k, v in cells.items()},
    )


def cell_key(cell: Mapping[str, str]) -> str:
    """A stable text key for a cell (`{}` when there are no conditions)."""
    return json.dumps(cell, ensure_ascii=False, sort_keys=True)


def _recorded(
    samples: Iterable[Mapping[str, Any]], rejects: Iterable[Mapping[str, Any]]
) -> tuple[list[Assignment], dict[AttemptKey, Outcome]]:
    # Refinement rounds and evolved variants are extra samples, not attempts at a slot.
    assignments: list[Assignment] = []
    outcomes: dict[AttemptKey, Outcome] = {}
    accepted: list[tuple[Mapping[str, Any], Outcome]] = [
        (r.get("metadata") or {}, "accepted") for r in samples
    ]
    lost: list[tuple[Mapping[str, Any], Outcome]] = [
        (r.get("plan") or {}, "failed" if r.get("status") == "failed" else "rejected")
        for r in rejects
    ]
    for where, outcome in [*accepted, *lost]:
        if where.get("leaf") is None or where.get("round") or where.get("parent_id"):
            continue
        a = Assignment(
            index=int(where.get("index", 0)),
            leaf=str(where["leaf"]),
            cell=dict(where.get("conditions") or {}),
            attempt=int(where.get("attempt", 0)),
        )
        assignments.append(a)
        # An accepted record wins over a reject of the same attempt (a retried failure).
        if outcomes.get(a.key) != "accepted":
            outcomes[a.key] = outcome
    return assignments, outcomes


def coverage_from_records(
    samples: Iterable[Mapping[str, Any]],
    rejects: Iterable[Mapping[str, Any]],
    *,
    max_attempts: int = 3,
) -> CoverageReport:
    """Coverage of a run folder's `samples.jsonl` and `rejects.jsonl` records.

    Reads the leaf, index, attempt and conditions that tree-planned samples carry
    (`metadata` of samples, `plan` of rejects); records without a leaf, and those of
    refinement rounds, are skipped.
    """
    assignments, outcomes = _recorded(samples, rejects)
    return coverage_report(assignments, outcomes, max_attempts=max_attempts)


class SlotPlan(Protocol):
    """What coverage reads of a run's plan (`synthloom.core.records.Plan`)."""

    @property
    def index(self) -> int: ...  # noqa: D102

    @property
    def leaf(self) -> str | None: ...  # noqa: D102

    @property
    def conditions(self) -> Mapping[str, str]: ...  # noqa: D102

    @property
    def attempt(self) -> int: ...  # noqa: D102

    @property
    def round(self) -> int: ...  # noqa: D102


def run_coverage(
    plans: Iterable[SlotPlan],
    samples: Iterable[Mapping[str, Any]],
    rejects: Iterable[Mapping[str, Any]],
    *,
    max_attempts: int,
) -> CoverageReport:
    """Coverage of a run: its planned slots (pending ones too) and every recorded outcome.

    Replacements the outcomes call for but that have not run yet count as pending, so
    an interrupted run reports what it still owes each leaf.
    """
    planned = [
        Assignment(p.index, p.leaf, dict(p.conditions), p.attempt)
        for p in plans
        if p.leaf is not None and p.round == 0 and p.attempt == 0
    ]
    samples = list(samples)
    recorded, outcomes = _recorded(samples, rejects)
    by_key = {a.key: a for a in [*planned, *recorded]}
    every = settle(list(by_key.values()), outcomes, max_attempts=max_attempts)
    return _with_extras(coverage_report(every, outcomes, max_attempts=max_attempts), samples)


def _with_extras(report: CoverageReport, samples: Iterable[Mapping[str, Any]]) -> CoverageReport:
    """Accepted samples of refinement rounds and evolved variants, on their leaf and cell.

    They fill no planned slot, so they add to `accepted` only: a leaf refinement aimed
    at shows more accepted than planned, as it should.
    """
    for record in samples:
        meta = record.get("metadata") or {}
        if meta.get("leaf") is None or not (meta.get("round") or meta.get("parent_id")):
            continue
        cell = cell_key(dict(meta.get("conditions") or {}))
        for counts, key in ((report.leaves, str(meta["leaf"])), (report.cells, cell)):
            counts.setdefault(key, NodeCoverage()).accepted += 1
    return report


COVERAGE_FILE = names.COVERAGE


def coverage_document(
    report: CoverageReport, tree: ConceptTree, *, tree_file: str, max_attempts: int
) -> dict[str, Any]:
    """What `coverage.json` holds: balance, per-leaf, per-cell and per-node counts.

    Stores the counts on the tree's nodes too (`CoverageReport.apply`); leaves no
    sample reached are listed with zeros, so the even spread can be checked by eye.
    """
    report.apply(tree)
    leaves = tree.concept_leaves()
    zero = NodeCoverage().as_dict()
    per_leaf = {
        leaf: {"topic": tree.topic(leaf), **tree.graph.nodes[leaf].get("coverage", zero)}
        for leaf in leaves
    }
    # Leaves no plan reached yet count as zeros in the balance.
    known = {leaf: report.leaves.get(leaf, NodeCoverage()) for leaf in leaves}
    balance = CoverageReport(known, report.cells).balance()
    planned = CoverageReport(known, report.cells).balance("planned")
    return {
        "tree": tree_file,
        "tree_fingerprint": tree.fingerprint(),
        "max_attempts": max_attempts,
        "balance": {**asdict(balance), "planned_min": planned.min, "planned_max": planned.max},
        "totals": tree.graph.nodes[tree.root].get("coverage", zero),
        "leaves": per_leaf,
        "cells": {key: c.as_dict() for key, c in sorted(report.cells.items())},
        "nodes": {n: tree.graph.nodes[n].get("coverage", zero) for n in tree.nodes()},
    }


def coverage_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """The few figures of `coverage.json` that `run.json` repeats."""
    balance = document["balance"]
    return {
        "file": COVERAGE_FILE,
        "leaves": balance["leaves"],
        "accepted_per_leaf_min": balance["min"],
        "accepted_per_leaf_max": balance["max"],
        # max - min is the figure to read when there are fewer samples than leaves.
        "accepted_spread": balance["max"] - balance["min"],
        "max_deviation": round(balance["max_deviation"], 4),
        "given_up": document["totals"]["given_up"],
        "pending": document["totals"]["pending"],
    }


def write_run_coverage(
    run_path: Path,
    tree: ConceptTree,
    plans: Iterable[SlotPlan],
    *,
    tree_file: str,
    max_attempts: int,
) -> dict[str, Any]:
    """Write the run folder's `coverage.json` (atomically) and return its summary.

    After curation it counts what curation kept (`synthloom.survivors`).
    """
    kept, lost = surviving(run_path)
    report = run_coverage(plans, kept, lost, max_attempts=max_attempts)
    document = coverage_document(report, tree, tree_file=tree_file, max_attempts=max_attempts)
    write_json_atomic(run_path / COVERAGE_FILE, document)
    return coverage_summary(document)
