"""Even allocation over leaves and condition cells, and rebalancing after rejects."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from knowledge.concepts import ConceptTree
from synthloom.accounting import cell_key, coverage_from_records, coverage_report
from synthloom.allocation import (
    Allocator,
    Assignment,
    ConditionGrid,
    Outcome,
    deal,
    plan_leaves,
    reallocate,
    settle,
    whole_weights,
)
from synthloom.spec import parse_spec

LEAVES = [f"leaf-{i}" for i in range(37)]
GRID = ConditionGrid.from_conditions(
    {"persona": [("novice", 3.0), ("expert", 1.0)], "style": ["brief", "detailed", "casual"]}
)


def per_leaf(assignments: list[Assignment]) -> Counter[str]:
    return Counter(a.leaf for a in assignments)


@pytest.mark.parametrize("n", [1, 36, 37, 38, 100, 1000, 1001])
def test_per_leaf_counts_differ_by_at_most_one(n: int) -> None:
    counts = per_leaf(deal(LEAVES, GRID, n, seed=3))
    assert sum(counts.values()) == n
    full = (
        counts if n >= len(LEAVES) else counts | {leaf: 0 for leaf in LEAVES if leaf not in counts}
    )
    assert max(full.values()) - min(full.values()) <= 1


def test_allocation_is_deterministic_and_prefix_stable() -> None:
    assert deal(LEAVES, GRID, 500, seed=1) == deal(LEAVES, GRID, 500, seed=1)
    assert deal(LEAVES, GRID, 1200, seed=1)[:500] == deal(LEAVES, GRID, 500, seed=1)
    assert deal(LEAVES, GRID, 500, seed=2) != deal(LEAVES, GRID, 500, seed=1)
    allocator = Allocator(LEAVES, GRID, seed=1)
    assert allocator.assign(777) == Allocator(LEAVES, GRID, seed=1).plan(1000)[777]


def test_cells_follow_weights_overall_and_within_each_leaf() -> None:
    assert GRID.size == 4 * 3  # novice takes 3 slots of 4
    plan = deal(LEAVES, GRID, len(LEAVES) * 48, seed=0)
    cells = Counter(cell_key(a.cell) for a in plan)
    assert len(cells) == 6
    novice = sum(1 for a in plan if a.cell["persona"] == "novice")
    assert novice == len(plan) * 3 // 4  # exact on whole cycles
    for leaf in LEAVES[:5]:
        mine = Counter(cell_key(a.cell) for a in plan if a.leaf == leaf)
        assert sorted(mine.values()) == [4, 4, 4, 12, 12, 12]


def test_cells_spread_evenly_when_n_is_small() -> None:
    plan = deal(LEAVES, GRID, 120, seed=0)
    styles = Counter(a.cell["style"] for a in plan)
    assert max(styles.values()) - min(styles.values()) <= 3


def test_a_grid_larger_than_n_uses_distinct_cells() -> None:
    huge = ConditionGrid.from_conditions({f"a{i}": [str(v) for v in range(10)] for i in range(8)})
    assert huge.size == 10**8
    plan = deal(LEAVES, huge, 500, seed=0)
    assert len({cell_key(a.cell) for a in plan}) == 500
    assert deal(LEAVES, huge, 900, seed=0)[:500] == plan


def test_explicit_cells_and_no_conditions() -> None:
    cells = [{"lang": "en"}, {"lang": "fr"}]
    plan = deal(["a", "b", "c"], cells, 12, seed=0)
    assert Counter(a.cell["lang"] for a in plan) == {"en": 6, "fr": 6}
    assert {cell_key(a.cell) for a in deal(["a"], None, 3)} == {"{}"}


def test_whole_weights() -> None:
    assert whole_weights([3, 1]) == [3, 1]
    assert whole_weights([0.7, 0.3]) == [7, 3]
    assert whole_weights([2, 2, 2]) == [1, 1, 1]
    odd = whole_weights([1000, 1, 1])
    assert sum(odd) == 64 and odd[1] == odd[2] == 1
    with pytest.raises(ValueError, match="positive"):
        whole_weights([1, 0])


def test_spec_conditions_make_a_grid() -> None:
    spec = parse_spec(
        "samples: 3\ntopics: [a]\nconditions:\n  persona: {x: 3, y: 1}\n  style: [p, q]\n"
    )
    grid = ConditionGrid.from_conditions(spec.conditions)
    assert grid.size == 8
    assert {cell_key(grid.cell(s)) for s in range(8)} == {
        cell_key({"persona": p, "style": s}) for p in "xy" for s in "pq"
    }


def simulate(
    assignments: list[Assignment], reject_rate: float, seed: int, max_attempts: int
) -> tuple[list[Assignment], dict[tuple[int, int], Outcome]]:
    """Run the plan: each attempt is rejected at random; replacements are planned as needed."""
    rng = random.Random(seed)
    outcomes: dict[tuple[int, int], Outcome] = {}
    every, todo = list(assignments), list(assignments)
    while todo:
        for a in todo:
            outcomes[a.key] = "rejected" if rng.random() < reject_rate else "accepted"
        todo = reallocate(every, outcomes, max_attempts=max_attempts)
        every += todo
    return every, outcomes


def test_twenty_percent_rejected_at_random_stays_within_ten_percent_of_even() -> None:
    leaves = [f"leaf-{i}" for i in range(100)]
    plan = deal(leaves, GRID, 2000, seed=5)
    every, outcomes = simulate(plan, reject_rate=0.2, seed=11, max_attempts=4)
    rejected = sum(1 for o in outcomes.values() if o == "rejected")
    assert 0.18 < rejected / len(outcomes) < 0.22

    report = coverage_report(every, outcomes, max_attempts=4)
    balance = report.balance()
    assert balance.mean == pytest.approx(20, abs=0.2)
    assert balance.max_deviation <= 0.10
    assert balance.max - balance.min <= 2
    # Without replacements the same rejections leave leaves far from even.
    first = {k: v for k, v in outcomes.items() if k[1] == 0}
    unbalanced = coverage_report(plan, first).balance()
    assert unbalanced.max_deviation > 0.25
    # Replacements keep the leaf and the cell of the sample they replace.
    slots = {a.index: a for a in plan}
    assert all(a.leaf == slots[a.index].leaf and a.cell == slots[a.index].cell for a in every)


def test_settle_recomputes_the_same_replacements_on_resume() -> None:
    plan = deal(LEAVES, GRID, 300, seed=2)
    every, outcomes = simulate(plan, reject_rate=0.3, seed=4, max_attempts=3)
    assert settle(plan, outcomes, max_attempts=3) == every
    assert max(a.attempt for a in every) == 2
    report = coverage_report(every, outcomes, max_attempts=3)
    given_up = sum(c.given_up for c in report.leaves.values())
    lost = [a for a in every if a.attempt == 2 and outcomes[a.key] == "rejected"]
    assert given_up == len(lost)


def test_pending_attempts_and_failed_ones() -> None:
    plan = deal(["a", "b"], None, 4, seed=0)
    outcomes: dict[tuple[int, int], Outcome] = {plan[0].key: "failed", plan[1].key: "accepted"}
    (replacement,) = reallocate(plan, outcomes)
    assert (replacement.index, replacement.attempt) == (0, 1)
    assert replacement.plan_body()["attempt"] == 1 and "attempt" not in plan[0].plan_body()
    report = coverage_report([*plan, replacement], outcomes)
    assert sum(c.pending for c in report.leaves.values()) == 3
    assert sum(c.failed for c in report.leaves.values()) == 1


def test_coverage_is_kept_on_every_node_of_the_tree() -> None:
    tree = ConceptTree.from_seeds(["A", "B"])
    a, b = tree.children(tree.root)
    a1, a2 = tree.add(a, "A one"), tree.add(a, "A two")
    leaves = tree.leaves()
    assert leaves == [b, a1, a2]
    plan = deal(leaves, None, 9, seed=0)
    outcomes: dict[tuple[int, int], Outcome] = {x.key: "accepted" for x in plan[:7]}
    coverage_report(plan, outcomes).apply(tree)
    root = tree.graph.nodes[tree.root]["coverage"]
    assert root["planned"] == 9 and root["accepted"] == 7 and root["pending"] == 2
    assert tree.graph.nodes[a]["coverage"]["planned"] == 6
    assert plan_leaves(tree, 9, seed=0) == [x.leaf for x in plan]


def test_coverage_from_run_records() -> None:
    samples = [
        {"metadata": {"index": 0, "leaf": "x", "conditions": {"s": "p"}}},
        {"metadata": {"index": 1, "leaf": "y", "conditions": {"s": "q"}, "attempt": 1}},
        {"metadata": {"index": 9, "topic": "no leaf: planned without a tree"}},
    ]
    rejects = [
        {"status": "rejected", "plan": {"index": 1, "leaf": "y", "conditions": {"s": "q"}}},
        {"status": "failed", "plan": {"index": 2, "leaf": "x", "conditions": {"s": "p"}}},
    ]
    report = coverage_from_records(samples, rejects)
    assert report.leaves["x"].accepted == 1 and report.leaves["x"].failed == 1
    assert report.leaves["y"].planned == 1 and report.leaves["y"].rejected == 1
    assert report.leaves["y"].accepted == 1
