"""Accounting: what each leaf and condition cell was planned and what it got.

`coverage.json` in a run folder counts, per node of the tree and per cell, the
samples planned, accepted, rejected, failed, pending and given up, from the
plans and the records on disk (after curation, from what survived it). The
report and `synthloom tree show --coverage` read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from synthloom.allocation import Assignment, AttemptKey, Outcome, settle
from synthloom.core import names
from synthloom.core.store import write_json_atomic
from synthloom.survivors import surviving

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree

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
