"""Dataset-level refinement: aim further rounds at the weakest cells of a run.

After a round, every (topic × condition values) cell gets a weakness score —
how far it falls short of an even share of accepted samples, plus how alike its
accepted samples are, plus how low the judge scored them when the run has been
curated — and the next round's samples are dealt in proportion,
each carrying a few "already covered" examples that push the model away from
repeats. Evol-style deepening (cot) adds harder variants of accepted questions.
A round's plans are saved before it runs, so an interrupted round resumes the
very same plans.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any

from synthloom.core import names
from synthloom.core.records import Plan
from synthloom.core.store import iter_records
from synthloom.planning import make_plans, sample_id
from synthloom.run_tree import load_run_tree
from synthloom.rundir import RunDir
from synthloom.spec import RunSpec
from synthloom.survivors import surviving

CellKey = tuple[str, tuple[tuple[str, str], ...]]
SIMILARITY_WEIGHT = 0.5
# A cell whose accepted samples the judge scored 1 (of 5) weighs as if they were
# missing; a score of 5 adds nothing.
LOW_SCORE_WEIGHT = 1.0


def cell_of(topic: str, conditions: dict[str, str]) -> CellKey:
    """The cell a sample belongs to: its topic and its condition values."""
    return (topic, tuple(sorted(conditions.items())))


@dataclass
class CellStats:
    """What a run produced in one cell."""

    key: CellKey
    accepted: int = 0
    rejected: int = 0
    examples: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    """Judge `overall` scores (1-5) of its samples, from curation."""

    @property
    def low_score(self) -> float:
        """0 when judged 5 on average (or never judged), 1 when judged 1."""
        if not self.scores:
            return 0.0
        return (5.0 - sum(self.scores) / len(self.scores)) / 4.0

    @property
    def similarity(self) -> float:
        """Mean pairwise word-set Jaccard of the accepted samples' openings (0: all differ)."""
        sets = [set(re.findall(r"\w+", e.lower())) for e in self.examples[:20]]
        pairs = [(a, b) for a, b in combinations(sets, 2) if a or b]
        if not pairs:
            return 0.0
        return sum(len(a & b) / len(a | b) for a, b in pairs) / len(pairs)


def opening_text(record: dict[str, Any]) -> str:
    """What a sample is 'about' in its own words: the question or first user turn."""
    cot = record.get("metadata", {}).get("cot")
    if cot and cot.get("question"):
        return str(cot["question"])
    return next((m["content"] for m in record.get("messages", []) if m["role"] == "user"), "")


MAX_GRID_CELLS = 20_000


def grid_shares(spec: RunSpec, topics: Sequence[str] | None = None) -> dict[CellKey, float] | None:
    """Each cell of topics × condition values with the share the spec asks for.

    Topics (the spec's, or the concept-tree leaves' paths) are dealt evenly and
    condition values by weight, so a cell's share is 1/len(topics) times the product
    of its values' weights. None if the grid is too large to enumerate; refinement
    then works over the planned cells.
    """
    topics = list(dict.fromkeys(spec.topics if topics is None else topics))
    size = len(topics) * math.prod(len(v) for v in spec.conditions.values())
    if size > MAX_GRID_CELLS or not topics:
        return None
    names = sorted(spec.conditions)
    shares: dict[CellKey, float] = {}
    for topic in topics:
        for combo in product(*(spec.conditions[n] for n in names)):
            share = 1.0 / len(topics)
            for name, value in zip(names, combo, strict=True):
                total = sum(v.weight for v in spec.conditions[name])
                share *= value.weight / total
            key = cell_of(topic, {n: v.value for n, v in zip(names, combo, strict=True)})
            shares[key] = shares.get(key, 0.0) + share
    return shares


def collect_cells(
    plans: Iterable[Plan], run_dir: RunDir, grid: Iterable[CellKey] = ()
) -> dict[CellKey, CellStats]:
    """Per-cell accepted/rejected counts and examples over the grid and the planned cells."""
    cells: dict[CellKey, CellStats] = {key: CellStats(key) for key in grid}
    by_id: dict[str, CellKey] = {}
    for plan in plans:
        key = cell_of(plan.topic, plan.conditions)
        cells.setdefault(key, CellStats(key))
        by_id[plan.id] = key
    # After curation a cell counts what curation kept; what it dropped is a reject.
    kept, lost = surviving(run_dir.path)
    for record in kept:
        hit = by_id.get(str(record.get("metadata", {}).get("id")))
        if hit is not None:
            cells[hit].accepted += 1
            cells[hit].examples.append(opening_text(record))
    for record in lost:
        hit = by_id.get(str(record.get("id")))
        if hit is not None:
            cells[hit].rejected += 1
    curated = run_dir.path / names.CURATED
    for name in (names.SAMPLES, names.REJECTS):
        for record in iter_records(curated / name):
            meta = record.get("metadata") or {}
            judge = (meta.get("curation") or {}).get("judge") or {}
            hit = by_id.get(str(meta.get("id")))
            if hit is not None and isinstance(judge.get("overall"), int | float):
                cells[hit].scores.append(float(judge["overall"]))
    return cells


def weakness(
    cells: dict[CellKey, CellStats],
    *,
    upcoming: int = 0,
    shares: dict[CellKey, float] | None = None,
    target_per_cell: int = 0,
) -> dict[CellKey, float]:
    """How much a cell needs more samples.

    The shortfall against its share of the dataset (after `upcoming` more samples)
    or against `target_per_cell`, plus a bonus for look-alike accepted samples and
    one for samples the judge scored low.
    """
    if not cells:
        return {}
    total = sum(c.accepted for c in cells.values()) + upcoming
    uniform = 1.0 / len(cells)
    scores = {}
    for key, c in cells.items():
        share = shares.get(key, 0.0) if shares is not None else uniform
        target = max(share * total, float(target_per_cell))
        look_alike = SIMILARITY_WEIGHT * c.similarity * c.accepted / 2
        judged_low = LOW_SCORE_WEIGHT * c.low_score * c.accepted
        scores[key] = max(0.0, target - c.accepted) + look_alike + judged_low
    return scores


def _stable(key: CellKey, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key!r}".encode()).hexdigest()


def allocate_cells(scores: dict[CellKey, float], n: int, seed: int) -> list[CellKey]:
    """Deal `n` samples over cells in proportion to weakness (largest remainder)."""
    positive = {k: s for k, s in scores.items() if s > 0}
    total = sum(positive.values())
    if n <= 0 or total <= 0:
        return []
    quotas = {k: n * s / total for k, s in positive.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    leftover = n - sum(counts.values())
    order = sorted(positive, key=lambda k: (-(quotas[k] - counts[k]), _stable(k, seed)))
    for key in order[:leftover]:
        counts[key] += 1
    return [k for k in sorted(counts, key=lambda k: _stable(k, seed)) for _ in range(counts[k])]


def plan_round(spec: RunSpec, run_dir: RunDir, round_number: int) -> list[Plan]:
    """The plans of refinement round `round_number` (empty when no cell is weak)."""
    tree = load_run_tree(spec)
    base = [*make_plans(spec, tree), *run_dir.saved_plans()]
    shares = grid_shares(spec, None if tree is None else [tree.topic(n) for n in tree.leaves()])
    cells = collect_cells(base, run_dir, shares or ())
    refine = spec.refine
    if refine.target_per_cell and all(c.accepted >= refine.target_per_cell for c in cells.values()):
        return []
    n = refine.samples_per_round or max(1, spec.samples // 4)
    scores = weakness(cells, upcoming=n, shares=shares, target_per_cell=refine.target_per_cell)
    keys = allocate_cells(scores, n, spec.seed + round_number)
    fingerprint = spec.plan_fingerprint()
    # Over a concept tree a topic is a leaf's path: the sample carries the leaf too,
    # so coverage counts it on that leaf (the id stays a function of the topic). The
    # tree names every leaf, including those the base run never planned a sample on.
    leaf_of = {} if tree is None else {tree.topic(leaf): leaf for leaf in tree.leaves()}
    rng = random.Random(f"{spec.seed}:refine:{round_number}")
    plans = []
    for slot, key in enumerate(keys):
        topic, conditions = key[0], dict(key[1])
        rounds = rng.randint(spec.dialogue.rounds.min, spec.dialogue.rounds.max)
        avoid = tuple(e[:300] for e in cells[key].examples[: refine.avoid_examples])
        body: dict[str, object] = {
            "round": round_number,
            "slot": slot,
            "topic": topic,
            "conditions": conditions,
            "rounds": rounds,
        }
        plans.append(
            Plan(
                id=sample_id(fingerprint, body),
                index=slot,
                topic=topic,
                conditions=conditions,
                rounds=rounds,
                round=round_number,
                avoid=avoid,
                leaf=leaf_of.get(topic),
            )
        )
    return plans + evolve_plans(spec, run_dir, round_number)


def evolve_plans(spec: RunSpec, run_dir: RunDir, round_number: int) -> list[Plan]:
    """Harder variants of accepted cot questions, each recorded with its parent's id."""
    evolve = spec.evolve
    if spec.task != "cot" or evolve.share <= 0:
        return []
    parents = [
        r
        for r in iter_records(run_dir.samples_path)
        if r["metadata"].get("cot") and r["metadata"].get("round", 0) == round_number - 1
    ]
    count = math.floor(len(parents) * evolve.share + 1e-9)
    fingerprint = spec.plan_fingerprint()
    plans = []
    for slot, parent in enumerate(sorted(parents, key=lambda r: r["metadata"]["id"])[:count]):
        meta = parent["metadata"]
        operation = evolve.operations[slot % len(evolve.operations)]
        body: dict[str, object] = {"round": round_number, "evolve": meta["id"], "op": operation}
        plans.append(
            Plan(
                id=sample_id(fingerprint, body),
                index=slot,
                topic=meta["topic"],
                conditions=meta["conditions"],
                rounds=1,
                round=round_number,
                parent_id=meta["id"],
                parent_question=meta["cot"]["question"],
                operation=operation,
                leaf=meta.get("leaf"),
            )
        )
    return plans
