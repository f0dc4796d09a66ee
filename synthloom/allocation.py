"""Allocation: spread samples evenly over the concept tree's leaves and the condition grid.

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
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree


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


def deal(
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
