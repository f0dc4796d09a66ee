"""Plans are deterministic, prefix-stable, and spread evenly over topics."""

from __future__ import annotations

from collections import Counter

from synthloom.planning import make_plans
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
