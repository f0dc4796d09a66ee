"""Deterministic sample plans: topic, condition values and turn budget per sample.

Plan `i` depends only on the spec and `i` (each draws from its own seeded RNG), so
raising `samples` later keeps every earlier plan and its id: the run extends
instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator

from synthloom.records import Plan
from synthloom.spec import RunSpec, WeightedValue


def _rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts))
    return random.Random(hashlib.sha256(key.encode()).digest())


def topic_for(spec: RunSpec, index: int) -> str:
    """Topics are dealt in shuffled rounds so every topic gets its share."""
    topics = spec.topics
    cycle, position = divmod(index, len(topics))
    order = list(range(len(topics)))
    _rng(spec.seed, "topics", cycle).shuffle(order)
    return topics[order[position]]


def _draw(values: list[WeightedValue], rng: random.Random) -> str:
    return rng.choices([v.value for v in values], weights=[v.weight for v in values])[0]


def sample_id(fingerprint: str, plan_body: dict[str, object]) -> str:
    """A stable id: the same plan in the same spec always gets the same id."""
    blob = json.dumps({"spec": fingerprint, **plan_body}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def make_plan(spec: RunSpec, index: int, fingerprint: str | None = None) -> Plan:
    """Plan sample `index` of the run."""
    rng = _rng(spec.seed, "plan", index)
    conditions = {name: _draw(values, rng) for name, values in sorted(spec.conditions.items())}
    rounds = rng.randint(spec.dialogue.rounds.min, spec.dialogue.rounds.max)
    body: dict[str, object] = {
        "index": index,
        "topic": topic_for(spec, index),
        "conditions": conditions,
        "rounds": rounds,
    }
    sid = sample_id(fingerprint or spec.plan_fingerprint(), body)
    return Plan(id=sid, index=index, topic=str(body["topic"]), conditions=conditions, rounds=rounds)


def make_plans(spec: RunSpec) -> Iterator[Plan]:
    """All plans of the run, in index order."""
    fingerprint = spec.plan_fingerprint()
    for index in range(spec.samples):
        yield make_plan(spec, index, fingerprint)
