"""Graph logic of the dialogue role-play, with scripted fake chat models."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs.dialogue import build_dialogue_graph, route_next
from synthloom.core.records import Plan, Turn
from synthloom.export import inline_reasoning
from synthloom.spec import parse_spec
from synthloom.tasks import DialogueTask
from tests.unit.fakes import make_context, truncated, user_json

PLAN = Plan(
    id="p1",
    index=0,
    topic="Managing type 2 diabetes",
    conditions={"persona": "a retired teacher", "style": "brief"},
    rounds=2,
)


async def run(context: Any, plan: Plan = PLAN) -> dict[str, Any]:
    graph = build_dialogue_graph().compile()
    result: dict[str, Any] = await graph.ainvoke({"plan": plan.model_dump()}, context=context)
    return result


async def test_dialogue_alternates_until_the_turn_budget() -> None:
    context, user_model, assistant_model = make_context(
        [user_json("What is HbA1c?"), user_json("How often should it be tested?")],
        ["HbA1c reflects your average glucose.", "Usually every three to six months."],
    )
    out = await run(context)
    assert out["outcome"] == "completed"
    assert out["ended_by"] == "budget"
    assert [t["role"] for t in out["turns"]] == ["user", "assistant", "user", "assistant"]
    assert out["turns"][2]["content"] == "How often should it be tested?"
    assert out["usage"]["calls"] == 4
    # The assistant saw the whole dialogue so far on its second turn.
    second = assistant_model.prompts[1]
    assert [m.content for m in second[1:]] == [
        "What is HbA1c?",
        "HbA1c reflects your average glucose.",
        "How often should it be tested?",
    ]
    # The user simulator's prompt carried the plan's topic and conditions.
    first_user_prompt = str(user_model.prompts[0][0].content)
    assert "Managing type 2 diabetes" in first_user_prompt
    assert "a retired teacher" in first_user_prompt


async def test_user_can_end_naturally_after_min_rounds() -> None:
    plan = PLAN.model_copy(update={"rounds": 5})
    context, user_model, _ = make_context(
        [user_json("What is HbA1c?"), user_json("Thanks, that answers it.", end=True)],
        ["HbA1c reflects your average glucose."],
        min_rounds=1,
    )
    out = await run(context, plan)
    assert out["outcome"] == "completed"
    assert out["ended_by"] == "user"
    # The closing message is dropped: the dialogue ends on the assistant.
    assert [t["role"] for t in out["turns"]] == ["user", "assistant"]
    assert "end_conversation to true" in str(user_model.prompts[1][0].content)


async def test_end_request_before_min_rounds_is_ignored() -> None:
    context, _, _ = make_context(
        [user_json("What is HbA1c?", end=True), user_json("And the target value?")],
        ["It reflects average glucose.", "Often below seven percent."],
        min_rounds=2,
    )
    out = await run(context)
    assert out["ended_by"] == "budget"
    assert len(out["turns"]) == 4


async def test_role_flip_is_regenerated_with_feedback() -> None:
    context, user_model, _ = make_context(
        [
            user_json("As an AI language model, I can explain HbA1c."),
            user_json("What does my HbA1c of 8 mean?"),
            user_json("What should I change first?"),
        ],
        ["It is above target.", "Start with diet and activity."],
    )
    out = await run(context)
    assert out["outcome"] == "completed"
    assert out["regenerations"] == 1
    assert out["turns"][0]["content"] == "What does my HbA1c of 8 mean?"
    retry_prompt = str(user_model.prompts[1][0].content)
    assert "role flip" in retry_prompt


async def test_bad_turns_past_the_budget_reject_the_sample() -> None:
    context, _, assistant_model = make_context(
        [user_json("What is HbA1c?")],
        ["", "   ", "..."],
        max_regenerations=2,
    )
    out = await run(context)
    assert out["outcome"] == "rejected"
    assert out["reason"].startswith("empty assistant turn")
    assert "3 tries" in out["reason"]
    assert len(assistant_model.prompts) == 3
    assert [t["role"] for t in out["turns"]] == ["user"]


async def test_repeated_turn_is_caught() -> None:
    context, _, _ = make_context(
        [
            user_json("What does an HbA1c of 8 mean for me?"),
            # Asked again word for word (short turns such as "continue" may repeat).
            user_json("What does an HbA1c of 8 mean for me?"),
            user_json("Is 8 high?"),
        ],
        ["It reflects average glucose.", "Yes, 8 is above the usual target."],
    )
    out = await run(context)
    assert out["outcome"] == "completed"
    assert out["regenerations"] == 1
    assert out["turns"][2]["content"] == "Is 8 high?"


async def test_malformed_json_is_reasked_then_rejected() -> None:
    context, user_model, _ = make_context(
        ['{"message": "unterminated', "not json at all"],
        [],
        max_reasks=1,
    )
    out = await run(context)
    assert out["outcome"] == "rejected"
    assert "malformed JSON 2 times" in out["reason"]
    assert out["usage"]["calls"] == 2
    # The re-ask showed the model its bad answer and the validation error.
    reask = user_model.prompts[1]
    assert reask[1].content == '{"message": "unterminated'
    assert "not valid JSON" in str(reask[2].content)


async def test_malformed_json_then_valid_continues() -> None:
    context, _, _ = make_context(
        ['{"msg": "wrong key"}', user_json("What is HbA1c?"), user_json("Is 8 high?")],
        ["It reflects average glucose.", "Yes, above target."],
        max_reasks=1,
    )
    out = await run(context)
    assert out["outcome"] == "completed"
    assert out["usage"]["calls"] == 5


async def test_truncated_answer_regenerates_or_trims() -> None:
    cut = truncated("HbA1c reflects average glucose. It is measured every three")
    context, _, _ = make_context(
        [user_json("What is HbA1c?"), user_json("Is 8 high?")],
        [cut, cut, cut],
        max_regenerations=2,
    )
    rejected = await run(context)
    assert rejected["outcome"] == "rejected"
    assert rejected["reason"].startswith("truncated assistant turn")

    context, _, _ = make_context(
        [user_json("What is HbA1c?"), user_json("Is 8 high?")],
        [cut, "Yes, 8 is above target."],
        trim_truncated=True,
    )
    trimmed = await run(context)
    assert trimmed["outcome"] == "completed"
    assert trimmed["turns"][1]["content"] == "HbA1c reflects average glucose."
    assert trimmed["trimmed"] == 1


async def test_checkpointed_dialogue_resumes_after_a_crash() -> None:
    """A dialogue interrupted by an endpoint error resumes from its last checkpoint."""
    context, user_model, _ = make_context(
        [user_json("What is HbA1c?"), user_json("Is 8 high?")],
        ["It reflects average glucose."],  # the second assistant call raises (script exhausted)
    )
    saver = InMemorySaver()
    graph = build_dialogue_graph().compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": PLAN.id}}
    with pytest.raises(Exception):  # noqa: B017 - the fake raises when its script runs out
        await graph.ainvoke({"plan": PLAN.model_dump()}, config, context=context)
    saved = await graph.aget_state(config)
    assert saved.next == ("respond",)
    assert len(saved.values["turns"]) == 3

    fresh, fresh_user, _ = make_context([], ["Yes, above the usual target."])
    out = await graph.ainvoke(None, config, context=fresh)
    assert out["outcome"] == "completed"
    assert [t["content"] for t in out["turns"]][:3] == [
        "What is HbA1c?",
        "It reflects average glucose.",
        "Is 8 high?",
    ]
    assert fresh_user.prompts == []  # nothing before the crash was asked again


async def test_hidden_reasoning_is_kept_apart_from_the_answer(tmp_path: Any) -> None:
    thought = (
        '{"reasoning": "She is worried; explain simply.", "answer": "It is a 3-month average."}'
    )
    context, _, assistant_model = make_context(
        [user_json("What is HbA1c?")],
        [thought],
    )
    context = replace(context, assistant=replace(context.assistant, reason_first=True))
    out = await run(context, PLAN.model_copy(update={"rounds": 1}))
    answer = out["turns"][1]
    assert answer["content"] == "It is a 3-month average."
    assert answer["reasoning"] == "She is worried; explain simply."
    spec = parse_spec("samples: 1\ntopics: [x]\ndialogue: {reasoning: true}\n")
    record = DialogueTask(spec, {"user_simulator": assistant_model, "assistant": assistant_model})
    sample = record.record(PLAN, out).model_dump()
    assert all("reasoning" not in m for m in sample["messages"])
    assert sample["metadata"]["reasoning"] == {"2": "She is worried; explain simply."}
    inlined = inline_reasoning(sample)
    assert inlined["messages"][2]["content"].startswith("<think>\nShe is worried")
    assert inlined["messages"][1] == sample["messages"][1]


def test_routers_are_pure_functions_of_state() -> None:
    plan = PLAN.model_dump()
    user_turn: Turn = {"role": "user", "content": "q"}
    answer: Turn = {"role": "assistant", "content": "a"}
    assert route_next({"plan": plan, "outcome": "rejected"}) == "__end__"
    assert route_next({"plan": plan, "wants_end": True, "turns": [user_turn, answer]}) == "finish"
    assert route_next({"plan": plan}) == "simulate_user"
    assert route_next({"plan": plan, "turns": [user_turn]}) == "respond"
    assert route_next({"plan": plan, "turns": [user_turn, answer]}) == "simulate_user"
    # A turn sent back for regeneration leaves the turns as they were: same role again.
    regenerate = {"plan": plan, "turns": [user_turn], "feedback": "empty turn"}
    assert route_next(regenerate) == "respond"  # type: ignore[arg-type]
    done = [user_turn, answer, user_turn, answer]
    assert route_next({"plan": plan, "turns": done}) == "finish"


async def test_a_plan_is_validated_once_per_dialogue_not_per_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validated: list[dict[str, Any]] = []
    original = Plan.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Plan], obj: Any, *args: Any, **kwargs: Any) -> Plan:
        validated.append(obj)
        result: Plan = original(cls, obj, *args, **kwargs)
        return result

    monkeypatch.setattr(Plan, "model_validate", classmethod(counting))
    context, _, _ = make_context(
        [user_json("What is HbA1c?"), user_json("How often should it be tested?")],
        ["HbA1c reflects your average glucose.", "Usually every three to six months."],
    )
    out = await run(context, PLAN.model_copy(update={"id": "p-once"}))
    assert out["outcome"] == "completed" and len(out["turns"]) == 4
    # Four role calls read the plan; one validation served them all.
    assert [p["id"] for p in validated] == ["p-once"]


def test_an_equal_plan_in_another_dict_is_its_own() -> None:
    from graphs.common import plan_of

    first = {"plan": PLAN.model_dump()}
    assert plan_of(first) is plan_of(first)
    changed = {"plan": {**PLAN.model_dump(), "topic": "Asthma at night"}}
    assert plan_of(changed).topic == "Asthma at night"
    assert plan_of(first).topic == PLAN.topic
