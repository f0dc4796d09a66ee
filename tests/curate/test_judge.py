"""The judge roles: structured answers, re-asks with the error, then 'unjudged'."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import BaseMessage

from agents.judge import FaithfulnessChecker, Labeler, RubricJudge, build_judges
from agents.structured import ModelOutputError
from tests.curate.conftest import EXCHANGES, dialogue
from tests.curate.fakes import ScriptedJudgeModel, claims_json, labels_json, rubric_json

MESSAGES = dialogue(*EXCHANGES["Understanding high blood pressure readings"][:2])
TOPICS = ["Understanding high blood pressure readings", "Managing type 2 diabetes"]


def roles(model: ScriptedJudgeModel) -> tuple[RubricJudge, FaithfulnessChecker, Labeler]:
    return build_judges(model, max_reasks=2)


async def test_rubric_judge_returns_a_validated_verdict_and_its_usage() -> None:
    model = ScriptedJudgeModel(lambda prompt, _: rubric_json(4))
    verdict, usage = await roles(model)[0].score(
        MESSAGES, topic=TOPICS[0], conditions={"persona": "a worried adult"}
    )
    assert verdict.overall == 4 and len(verdict.criteria) == 6
    assert usage.calls == 1 and usage.total_tokens == 120
    prompt = model.prompts[0]
    # The stable rubric comes first, the sample's own text last (prefix caching).
    assert prompt.index("Rubric") < prompt.index("Intended topic") < prompt.index("PERSON:")
    assert "persona: a worried adult" in prompt and "You are a helpful" not in prompt


async def test_invalid_json_is_re_asked_with_the_validation_error() -> None:
    answers = iter(['{"rationale": "ok", "criteria": [], "overall": 9}', rubric_json(2)])
    model = ScriptedJudgeModel(lambda prompt, _: next(answers))
    verdict, usage = await roles(model)[0].score(MESSAGES, topic=TOPICS[0], conditions={})
    assert verdict.overall == 2 and usage.calls == 2
    assert model.calls == 2


async def test_a_judge_that_never_answers_valid_json_leaves_the_sample_unjudged() -> None:
    model = ScriptedJudgeModel(lambda prompt, _: "Sure! The dialogue is great, 5/5.")
    with pytest.raises(ModelOutputError) as caught:
        await roles(model)[0].score(MESSAGES, topic=TOPICS[0], conditions={})
    assert caught.value.reason.startswith("unjudged: rubric judge gave malformed JSON 3 times")
    assert caught.value.usage.calls == 3 and model.calls == 3


async def test_faithfulness_checker_rejects_citations_of_missing_sources() -> None:
    bad = json.dumps({"claims": [{"claim": "x", "verdict": "supported", "source": 3}]})
    answers = iter([bad, claims_json("supported", "unsupported")])
    seen: list[list[BaseMessage]] = []

    def reply(prompt: str, messages: list[BaseMessage]) -> str:
        seen.append(messages)
        return next(answers)

    model = ScriptedJudgeModel(reply)
    verdict, _ = await roles(model)[1].check(MESSAGES, ["first source", "second source"])
    assert [c.verdict for c in verdict.claims] == ["supported", "unsupported"]
    reask = str(seen[1][-1].content)
    assert "claims.0.source" in reask and "less than or equal to 2" in reask
    assert "[1] first source" in model.prompts[0] and "[2] second source" in model.prompts[0]


async def test_labeler_topic_must_be_a_listed_topic_or_other() -> None:
    answers = iter([labels_json("Blood pressure stuff"), labels_json(TOPICS[0], "medium")])
    model = ScriptedJudgeModel(lambda prompt, _: next(answers))
    labels, usage = await roles(model)[2].label(MESSAGES, topics=TOPICS)
    assert labels.topic == TOPICS[0] and labels.difficulty == "medium"
    assert usage.calls == 2
    other = ScriptedJudgeModel(lambda prompt, _: labels_json("other"))
    assert (await roles(other)[2].label(MESSAGES, topics=TOPICS))[0].topic == "other"
