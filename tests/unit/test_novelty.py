"""The novelty gate: near copies refused at admit, repeated openings redirected, resume."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from graphs.dialogue import build_dialogue_graph
from synthloom.core.records import Plan, SampleRecord
from synthloom.curate.dedup import shingle_hashes
from synthloom.novelty import NoveltyIndex, jaccard, near_duplicate_reason
from tests.unit.fakes import make_context, user_json

WORDS = [f"w{i}" for i in range(400)]
PLAN = Plan(id="p0", index=0, topic="Sleep", conditions={"persona": "a nurse"}, rounds=1)


def text(seed: int, n: int = 80) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def record(sample_id: str, opening: str, answer: str, **meta: Any) -> SampleRecord:
    metadata = {"id": sample_id, "topic": "Sleep", "conditions": {"persona": "a nurse"}, **meta}
    return SampleRecord(
        messages=[
            {"role": "system", "content": "You are a clinician."},
            {"role": "user", "content": opening},
            {"role": "assistant", "content": answer},
        ],
        metadata=metadata,
    )


def index() -> NoveltyIndex:
    return NoveltyIndex(threshold=0.8, opening_threshold=0.8)


def edited(words: str, changes: int, seed: int = 0) -> str:
    out = words.split()
    rng = random.Random(seed)
    for position in rng.sample(range(len(out)), changes):
        out[position] = "changed"
    return " ".join(out)


def word_trigram_jaccard(a: str, b: str) -> float:
    def grams(t: str) -> set[tuple[str, ...]]:
        w = t.lower().split()
        return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def test_a_near_copy_is_refused_with_the_id_it_repeats() -> None:
    gate = index()
    first = record("a", text(1, 20), text(2))
    assert gate.admit(first) is None
    assert gate.admit(record("b", text(3, 20), text(4))) is None
    # Two words changed in 100: Jaccard of word 3-grams ≈ 0.89, refused.
    copy = record("c", text(1, 20), edited(text(2), 2))
    near = gate.admit(copy)
    assert near is not None and near.of == "a" and near.opening == text(1, 20)
    assert near.similarity >= 0.8
    reason = near_duplicate_reason(near, 0.8, 3)
    assert reason.startswith("near_duplicate of a (word 3-gram Jaccard 0.")
    assert len(gate) == 2 and gate.refused == 1


def test_the_threshold_is_exact_jaccard_not_an_estimate() -> None:
    gate = index()
    base = text(5, 200)
    gate.admit(record("a", "hello there my friend", base))
    for changes in (4, 6, 8, 10, 12, 14):
        candidate = edited(base, changes, seed=changes)
        exact = jaccard(shingle_hashes(candidate, 3), shingle_hashes(base, 3))
        assert abs(exact - word_trigram_jaccard(candidate, base)) < 1e-9
        probe = index()
        probe.admit(record("a", "hello there my friend", base))
        refused = probe.admit(record("x", "a different opening here", candidate)) is not None
        assert refused == (exact >= 0.8), (changes, exact)


def test_the_index_rebuilt_from_the_records_refuses_the_same() -> None:
    gate = index()
    kept = [record(f"s{i}", text(100 + i, 20), text(200 + i)) for i in range(30)]
    for r in kept:
        assert gate.admit(r) is None
    again = NoveltyIndex.rebuild(
        (r.model_dump(mode="json") for r in kept), threshold=0.8, opening_threshold=0.8
    )
    assert len(again) == 30
    probe = record("new", text(110, 20), edited(text(210), 1))
    near = again.admit(probe)
    assert near is not None and near.of == "s10"


def test_openings_are_checked_and_recent_ones_shown_per_cell() -> None:
    gate = index()
    opening = "My husband snores so loudly that I have not slept in weeks, what can we try?"
    gate.admit(record("a", opening, text(1)))
    gate.admit(record("b", "Is melatonin safe to take every night for a month?", text(2)))
    other = record("c", "Night shifts wreck my sleep.", text(3), conditions={"persona": "a pilot"})
    gate.admit(other)
    nearest = gate.check_opening(PLAN, opening.replace("try?", "do?"))
    assert [n.of for n in nearest] == ["a"] and gate.openings_redirected == 1
    assert gate.check_opening(PLAN, "How do I stop waking at 4am?") == []
    shown = gate.covered(PLAN, 3)
    assert set(shown) == {opening, "Is melatonin safe to take every night for a month?"}
    pilot = PLAN.model_copy(update={"conditions": {"persona": "a pilot"}})
    assert gate.covered(pilot, 3) == ["Night shifts wreck my sleep."]


class _Gate:
    """An opening check that says the first `hits` openings repeat sample `seen`."""

    def __init__(self, hits: int) -> None:
        self.hits = hits
        self.asked: list[str] = []

    def check_opening(self, plan: Plan, opening: str) -> list[Any]:
        from synthloom.novelty import Near

        self.asked.append(opening)
        if len(self.asked) <= self.hits:
            return [Near("seen", 0.93, "I keep waking at 4am, why?")]
        return []


async def run(context: Any) -> dict[str, Any]:
    graph = build_dialogue_graph().compile()
    out: dict[str, Any] = await graph.ainvoke({"plan": PLAN.model_dump()}, context=context)
    return out


async def test_a_repeated_opening_is_asked_again_with_the_covered_one_shown() -> None:
    gate = _Gate(hits=1)
    context, user_model, _ = make_context(
        [user_json("I keep waking at 4am, why?"), user_json("Does caffeine after lunch matter?")],
        ["It can: caffeine lasts about six hours."],
        novelty=gate,
    )
    out = await run(context)
    assert out["outcome"] == "completed"
    assert out["turns"][0]["content"] == "Does caffeine after lunch matter?"
    assert out["novelty_retries"] == 1 and out["regenerations"] == 1
    retry_prompt = str(user_model.prompts[1][0].content)
    assert "already in the dataset" in retry_prompt
    assert '"I keep waking at 4am, why?"' in retry_prompt
    assert gate.asked == ["I keep waking at 4am, why?", "Does caffeine after lunch matter?"]


async def test_an_opening_that_keeps_repeating_rejects_the_sample() -> None:
    context, user_model, assistant_model = make_context(
        [user_json("I keep waking at 4am, why?")] * 3,
        ["never asked"],
        novelty=_Gate(hits=3),
        max_regenerations=2,
    )
    out = await run(context)
    assert out["outcome"] == "rejected"
    assert out["reason"].startswith("near_duplicate of seen (opening")
    assert "after 3 tries" in out["reason"]
    assert len(user_model.prompts) == 3 and assistant_model.prompts == []


def test_every_indexed_sample_is_found_after_its_buckets_grew() -> None:
    gate = index()
    kept = [record(f"s{i}", f"opening {i} " + text(5000 + i, 6), text(i, 40)) for i in range(1500)]
    for r in kept:
        assert gate.admit(r) is None
    # 1,500 samples x 16 bands outgrew the first table several times; nothing was lost.
    for i in range(0, 1500, 7):
        near = gate.admit(record("again", f"opening {i} " + text(5000 + i, 6), text(i, 40)))
        assert near is not None and near.of == f"s{i}" and near.similarity == 1.0


def test_an_evolved_variant_may_stay_close_to_its_parent_only() -> None:
    gate = index()
    assert gate.admit(record("parent", text(1, 20), text(2))) is None
    assert gate.admit(record("other", text(3, 20), text(4))) is None
    variant = record("v", text(1, 20), edited(text(2), 2), parent_id="parent")
    assert gate.admit(variant) is None  # deepening its own parent on purpose
    close_to_other = record("w", text(3, 20), edited(text(4), 2), parent_id="parent")
    near = gate.admit(close_to_other)
    assert near is not None and near.of == "other"


async def test_a_repeated_cot_question_is_written_again_with_the_covered_one_shown() -> None:
    from tests.unit.test_cot_graph import answer, context, q, step, verdict
    from tests.unit.test_cot_graph import run as run_cot

    gate = _Gate(hits=1)
    first = "A 70 kg adult needs 0.5 units/kg/day, half basal. How many basal units a day?"
    second = "A 60 kg adult needs 0.6 units/kg/day, 40% basal. How many basal units a day?"
    ctx, writer, _, _ = context(
        [q(first), q(second)],
        [step("0.6 x 60 = 36; 40% is 14.4.", ready=True), answer("14.4 units a day.")],
        [verdict("agree")],
    )
    out = await run_cot(replace(ctx, novelty=gate))
    assert out["outcome"] == "completed" and out["question"] == second
    assert out["novelty_retries"] == 1
    assert "already in the dataset" in str(writer.prompts[1][0].content)
    assert gate.asked == [first, second]
