"""Graph logic of chain-of-thought samples, with scripted fake chat models."""

from __future__ import annotations

import json
from typing import Any

from agents.reasoning import build_cot_roles
from graphs.cot import CotContext, build_cot_graph
from synthloom.core.layouts import render_cot
from synthloom.core.records import Plan
from tests.unit.fakes import RecordingFakeChatModel

PLAN = Plan(id="c1", index=0, topic="Insulin dosing", conditions={"difficulty": "hard"}, rounds=1)
QUESTION = "A 70 kg adult needs 0.5 units/kg/day, half basal. How many basal units a day?"


def q(text: str = QUESTION) -> str:
    return json.dumps({"question": text})


def step(text: str, ready: bool = False) -> str:
    return json.dumps({"step": text, "ready_to_answer": ready})


def answer(text: str) -> str:
    return json.dumps({"answer": text})


def verdict(v: str, why: str = "") -> str:
    return json.dumps({"own_answer": "17.5 units", "verdict": v, "explanation": why})


def context(
    writer: list[str], reasoner: list[str], verifier: list[str] | None, **budgets: Any
) -> tuple[CotContext, RecordingFakeChatModel, RecordingFakeChatModel, RecordingFakeChatModel]:
    w, r, v = (RecordingFakeChatModel(x) for x in (writer, reasoner, verifier or []))
    writer_role, reasoner_role, verifier_role = build_cot_roles(
        w,
        r,
        v,
        system_prompt="Think step by step.",
        min_steps=budgets.pop("min_steps", 1),
        max_reasks=1,
    )
    ctx = CotContext(
        writer=writer_role,
        reasoner=reasoner_role,
        verifier=verifier_role if verifier is not None else None,
        min_steps=reasoner_role.min_steps,
        **budgets,
    )
    return ctx, w, r, v


async def run(ctx: CotContext) -> dict[str, Any]:
    out: dict[str, Any] = (
        await build_cot_graph().compile().ainvoke({"plan": PLAN.model_dump()}, context=ctx)
    )
    return out


async def test_steps_build_on_each_other_until_ready() -> None:
    steps = ["Total dose is 0.5 x 70 = 35 units.", "Basal is half: 17.5 units.", "So 17.5 units."]
    ctx, writer, reasoner, _ = context(
        [q()],
        [step(steps[0]), step(steps[1]), step(steps[2], ready=True), answer("17.5 units a day.")],
        [verdict("agree")],
        max_steps=6,
    )
    out = await run(ctx)
    assert out["outcome"] == "completed"
    assert out["steps"] == steps
    assert out["answer"] == "17.5 units a day."
    assert out["check"]["verdict"] == "agree"
    # Step k's prompt holds every earlier step, and asks for step k.
    for k in range(3):
        prompt = str(reasoner.prompts[k][0].content)
        assert all(f"Step {i + 1}: {steps[i]}" in prompt for i in range(k))
        assert steps[k] not in prompt
        assert f"Now write step {k + 1}." in prompt
    assert "Insulin dosing" in str(writer.prompts[0][0].content)


async def test_ready_before_min_steps_keeps_reasoning() -> None:
    ctx, _, _, _ = context(
        [q()],
        [step("35 units total.", ready=True), step("Half is 17.5.", ready=True), answer("17.5")],
        None,
        min_steps=2,
    )
    out = await run(ctx)
    assert out["outcome"] == "completed"
    assert len(out["steps"]) == 2


async def test_repeated_step_is_regenerated_then_rejected() -> None:
    ctx, _, reasoner, _ = context(
        [q()],
        [
            step("Total is 35 units."),
            step("Total is 35 units."),
            step("total is 35 units"),
            step("Total is 35 units!"),
        ],
        None,
        max_step_retries=2,
    )
    out = await run(ctx)
    assert out["outcome"] == "rejected"
    assert out["reason"].startswith("repeated step")
    assert "repeated step" in str(reasoner.prompts[2][0].content)  # feedback reached the retry


async def test_a_refused_step_cannot_declare_the_sample_ready() -> None:
    ctx, _, _, _ = context(
        [q()],
        [
            step("Total is 35 units."),
            step("Total is 35 units.", ready=True),  # repeated, and claims readiness
            step("Basal is half: 17.5 units.", ready=True),
            answer("17.5 units."),
        ],
        None,
        min_steps=2,
    )
    out = await run(ctx)
    assert out["outcome"] == "completed"
    assert out["steps"] == ["Total is 35 units.", "Basal is half: 17.5 units."]


async def test_reasoner_that_never_answers_hits_the_step_budget() -> None:
    ctx, _, _, _ = context(
        [q()], [step(f"Consider factor {i}.") for i in range(10)], None, max_steps=4
    )
    out = await run(ctx)
    assert out["outcome"] == "rejected"
    assert out["reason"] == "step budget exhausted: no answer after 4 steps"
    assert len(out["steps"]) == 4


async def test_verifier_disagreement_retries_once_then_accepts() -> None:
    ctx, _, reasoner, verifier = context(
        [q()],
        [
            step("35 basal units.", ready=True),
            answer("35 units."),
            step("Half of 35 is 17.5.", ready=True),
            answer("17.5 units."),
        ],
        [verdict("disagree", "basal is only half the total"), verdict("agree")],
    )
    out = await run(ctx)
    assert out["outcome"] == "completed"
    assert out["reasoning_retries"] == 1
    assert out["steps"] == ["Half of 35 is 17.5."]  # the retry started from scratch
    assert "basal is only half the total" in str(reasoner.prompts[2][0].content)
    assert len(verifier.prompts) == 2


async def test_second_disagreement_rejects_with_the_reason() -> None:
    ctx, _, _, _ = context(
        [q()],
        [
            step("The total is 35 units.", ready=True),
            answer("35"),
            step("The total is 70 units.", ready=True),
            answer("70"),
        ],
        [verdict("disagree", "wrong total"), verdict("disagree", "still wrong")],
    )
    out = await run(ctx)
    assert out["outcome"] == "rejected"
    assert out["reason"] == "verifier disagreed after a retry: still wrong"


async def test_placeholder_question_is_rewritten_with_feedback() -> None:
    ctx, writer, _, _ = context(
        [q("{{question}} about {{topic}}"), q("What dose is right?"), q()],
        [step("Total dose is 35 units.", ready=True), answer("35 units")],
        None,
    )
    out = await run(ctx)
    assert out["outcome"] == "completed"
    assert out["question"] == QUESTION
    assert "placeholder text in the question" in str(writer.prompts[1][0].content)
    assert "question too short" in str(writer.prompts[2][0].content)


async def test_wordless_steps_are_refused() -> None:
    ctx, _, _, _ = context([q()], [step("1.2", ready=True)] * 3, None, max_step_retries=2)
    out = await run(ctx)
    assert out["outcome"] == "rejected"
    assert out["reason"].startswith("step too short")


async def test_malformed_question_is_rejected() -> None:
    ctx, _, _, _ = context(['{"question": 5}', "nope"], [], None)
    out = await run(ctx)
    assert out["outcome"] == "rejected"
    assert "question writer gave malformed JSON" in out["reason"]


def test_layouts() -> None:
    assert render_cot(["a", "b"], "c", "think") == "<think>\nStep 1: a\nStep 2: b\n</think>\n\nc"
    assert render_cot(["a"], "c", "steps") == "Step 1: a\n\nAnswer: c"
