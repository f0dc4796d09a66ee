"""Plans are deterministic, prefix-stable, and spread evenly over topics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from knowledge.concepts import ConceptTree
from synthloom.planning import Planner, make_plans
from synthloom.spec import parse_spec

SPEC = """
samples: {n}
seed: {seed}
topics: [a, b, c, d, e]
conditions:
  persona: {{x: 3, y: 1}}
  style: [p, q]
dialogue: {{rounds: {{min: 1, max: 4}}}}
"""


def plans(n: int = 100, seed: int = 0) -> list:  # type: ignore[type-arg]
    return list(make_plans(parse_spec(SPEC.format(n=n, seed=seed))))


def test_same_seed_same_plans_and_unique_ids() -> None:
    first, second = plans(), plans()
    assert first == second
    assert len({p.id for p in first}) == len(first)


def test_raising_samples_keeps_earlier_plans() -> None:
    assert plans(200)[:100] == plans(100)


def test_other_seed_other_plans() -> None:
    assert [p.conditions for p in plans(seed=1)] != [p.conditions for p in plans(seed=0)]


def test_topics_are_dealt_evenly() -> None:
    counts = Counter(p.topic for p in plans(103))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_condition_weights_are_respected() -> None:
    counts = Counter(p.conditions["persona"] for p in plans(4000))
    share = counts["x"] / 4000
    assert 0.70 < share < 0.80  # weight 3:1


def test_rounds_stay_in_range() -> None:
    rounds = {p.rounds for p in plans(500)}
    assert rounds == {1, 2, 3, 4}


TREE_SPEC = """
samples: {n}
seed: 3
concepts: {{seeds: [Sleep, Food, Movement]}}
conditions:
  persona: [x, y, z]
coverage: {{replacements: 2}}
"""


def tree_planner(n: int, tree: ConceptTree | None = None) -> Planner:
    spec = parse_spec(TREE_SPEC.format(n=n))
    assert spec.concepts is not None
    if tree is None:
        tree = spec.concepts.base_tree()
        for seed in tree.children(tree.root):
            for k in range(4):
                tree.add(seed, f"{tree.name(seed)} {k}")
    return Planner(spec, tree)


def test_tree_plans_carry_the_leaf_and_its_path_and_deal_leaves_evenly() -> None:
    planner = tree_planner(50)
    assert planner.tree is not None
    got = list(planner.plans())
    counts = Counter(p.leaf for p in got)
    assert set(counts) == set(planner.tree.leaves()) and len(counts) == 12
    assert max(counts.values()) - min(counts.values()) <= 1
    assert all(p.leaf is not None and p.topic == planner.tree.topic(p.leaf) for p in got)
    assert got[0].topic.count(" > ") == 1
    # Prefix-stable: a larger run keeps these plans and ids.
    assert list(tree_planner(80).plans())[:50] == got


def test_replacements_keep_leaf_and_cell_with_new_ids_until_the_budget() -> None:
    planner = tree_planner(12)
    first = planner.plan(5)
    again = planner.replacements([first])
    assert len(again) == 1
    second = again[0]
    assert (second.index, second.leaf, second.conditions) == (5, first.leaf, first.conditions)
    assert second.attempt == 1 and second.id != first.id
    assert tree_planner(12).replacements([first]) == again  # deterministic on resume
    third = planner.replacements([second])[0]
    assert third.attempt == 2
    assert planner.replacements([third]) == []  # `coverage.replacements: 2` spent


def test_a_different_tree_is_a_different_dataset() -> None:
    base = tree_planner(6)
    assert base.tree is not None
    other = base.tree.copy()
    other.add(other.leaves()[0], "One more")
    changed = tree_planner(6, other)
    assert {p.id for p in base.plans()}.isdisjoint(p.id for p in changed.plans())


def test_the_run_summary_names_lost_slots_and_the_setting_that_retries_them() -> None:
    from synthloom.cli import coverage_line

    even = {"leaves": 9, "accepted_per_leaf_min": 1, "accepted_per_leaf_max": 1, "given_up": 0}
    line = coverage_line(even, 0, Path("runs/x"))
    assert line.startswith("coverage: 1–1 accepted per leaf over 9 leaves")
    assert "lost" not in line and line.endswith("synthloom tree show --run runs/x")
    lossy = {**even, "accepted_per_leaf_min": 0, "given_up": 2}
    line = coverage_line(lossy, 1, Path("runs/x"))
    assert "2 slots lost after 2 attempts each" in line and "coverage.replacements" in line
    line = coverage_line({**lossy, "given_up": 1}, 0, Path("runs/x"))
    assert "1 slot lost after 1 attempt each" in line
