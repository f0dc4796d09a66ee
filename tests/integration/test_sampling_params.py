"""Sampling settings of a role reach the server on every call, structured ones included."""

from __future__ import annotations

import asyncio

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agents.llm import make_chat_model, make_role_model
from agents.structured import ask_structured
from synthloom.spec import ModelSpec
from tests.support.openai_server import ScriptedOpenAIServer


class Verdict(BaseModel):
    ok: bool


def _spec(base_url: str, **extra: object) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "provider": "openai",
            "base_url": base_url,
            "model": "m",
            "frequency_penalty": 0.5,
            "presence_penalty": 0.25,
            "extra_body": {"repeat_penalty": 1.2, "min_p": 0.05},
            **extra,
        }
    )


def test_penalties_and_extra_body_go_on_plain_and_structured_calls(
    server: ScriptedOpenAIServer,
) -> None:
    model = make_chat_model(_spec(server.base_url))

    async def both() -> None:
        await model.ainvoke([HumanMessage("hello")])
        await ask_structured(model, [HumanMessage("judge")], Verdict, max_reasks=0, who="judge")

    asyncio.run(both())
    plain, structured = server.request_log
    for body in (plain, structured):
        assert body["frequency_penalty"] == 0.5
        assert body["presence_penalty"] == 0.25
        assert body["repeat_penalty"] == 1.2 and body["min_p"] == 0.05
    # The structured call adds its schema without dropping the spec's fields.
    assert "response_format" not in plain
    assert structured["response_format"]["type"] == "json_schema"


def test_replicas_send_the_spec_fields_too(server: ScriptedOpenAIServer) -> None:
    with ScriptedOpenAIServer() as other:
        spec = _spec(server.base_url, replicas=[other.base_url])
        pool = make_role_model(spec, server.base_url)
        asyncio.run(
            ask_structured(pool, [HumanMessage("judge")], Verdict, max_reasks=0, who="judge")
        )
        bodies = server.request_log + other.request_log
    assert len(bodies) == 1
    assert bodies[0]["repeat_penalty"] == 1.2 and "response_format" in bodies[0]


def test_unset_penalties_are_not_sent(server: ScriptedOpenAIServer) -> None:
    spec = ModelSpec(provider="openai", base_url=server.base_url, model="m")
    asyncio.run(make_chat_model(spec).ainvoke([HumanMessage("hello")]))
    (body,) = server.request_log
    assert "frequency_penalty" not in body and "repeat_penalty" not in body
