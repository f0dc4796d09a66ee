"""The lean call path answers exactly as langchain's full path does, over real HTTP.

A plain call without callbacks skips langchain's Runnable layers; a call with a
callback handler takes the full path. Both must carry the same content, usage and
`finish_reason` (a cut at `max_tokens` is how a truncated turn is recognised).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from agents.llm import make_chat_model
from synthloom.spec import ModelSpec
from tests.support.openai_server import ScriptedOpenAIServer


class Watching(AsyncCallbackHandler):
    """Any handler sends a call down the full path."""

    seen = 0

    async def on_chat_model_start(self, *args: object, **kwargs: object) -> None:
        self.seen += 1


def sent(value: Any) -> Any:
    """The fields that carry a value (a typed answer fills the ones a server left out with None)."""
    if isinstance(value, dict):
        return {k: sent(v) for k, v in value.items() if v is not None}
    return value


async def both_paths(max_tokens: int | None) -> tuple[AIMessage, AIMessage, int]:
    with ScriptedOpenAIServer() as server:
        limit = {} if max_tokens is None else {"max_tokens": max_tokens}
        spec = ModelSpec(provider="openai", base_url=server.base_url, model="m", **limit)
        model = make_chat_model(spec)
        prompt = [HumanMessage("Say something about the weather today.")]
        lean = await model.ainvoke(prompt)
        watcher = Watching()
        full = await model.ainvoke(prompt, config={"callbacks": [watcher]})
    assert isinstance(lean, AIMessage) and isinstance(full, AIMessage)
    return lean, full, watcher.seen


async def test_a_cut_answer_says_so_on_both_paths() -> None:
    lean, full, seen = await both_paths(max_tokens=5)
    assert seen == 1  # the second call really took the full path
    assert lean.response_metadata["finish_reason"] == "length"
    assert full.response_metadata["finish_reason"] == "length"
    assert lean.content == full.content and len(str(lean.content).split()) == 5
    assert lean.usage_metadata == full.usage_metadata


async def test_a_whole_answer_is_the_same_on_both_paths() -> None:
    lean, full, _ = await both_paths(max_tokens=None)
    assert lean.response_metadata["finish_reason"] == full.response_metadata["finish_reason"]
    assert lean.response_metadata["finish_reason"] == "stop"
    assert lean.content == full.content
    # Everything the full path tells about the call, but the completion's own id.
    assert {k: v for k, v in sent(lean.response_metadata).items() if k != "id"} == {
        k: v for k, v in sent(full.response_metadata).items() if k != "id"
    }
    assert lean.usage_metadata == full.usage_metadata


async def test_the_spec_body_and_a_bound_schema_reach_the_server() -> None:
    with ScriptedOpenAIServer() as server:
        spec = ModelSpec(
            provider="openai", base_url=server.base_url, model="m", extra_body={"top_k": 7}
        )
        fmt = {"type": "json_schema", "json_schema": {"name": "X", "schema": {"type": "object"}}}
        bound = make_chat_model(spec).bind(extra_body={"top_k": 7, "response_format": fmt})
        await bound.ainvoke([HumanMessage("Answer in JSON.")])
        body = server.request_log[-1]
    assert body["top_k"] == 7 and body["response_format"] == fmt
    assert body["model"] == "m" and body["messages"] == [
        {"role": "user", "content": "Answer in JSON."}
    ]
    assert "extra_body" not in body and body.get("stream") in (None, False)


def test_an_answer_that_is_not_json_is_named() -> None:
    from agents.llm import completion_of

    with pytest.raises(ValueError, match="not JSON: '<html>"):
        completion_of(b"<html>502 Bad Gateway</html>")
    with pytest.raises(ValueError, match="with list"):
        completion_of(b"[1, 2]")


def test_one_model_serves_two_event_loops_and_closes_its_connections_in_each() -> None:
    from agents.flow import FlowTransport
    from agents.llm import FlowClient, PooledTransport, run_with_models

    with ScriptedOpenAIServer() as server:
        model = make_chat_model(ModelSpec(provider="openai", base_url=server.base_url, model="m"))
        client = model.http_async_client
        assert isinstance(client, FlowClient)
        transport = client._transport
        assert isinstance(transport, FlowTransport) and isinstance(transport.inner, PooledTransport)
        prompt = [HumanMessage("Say something about the weather today.")]
        first = run_with_models(model.ainvoke(prompt))
        assert transport.inner.open_pools == 0
        second = run_with_models(model.ainvoke(prompt))  # a new loop: a new pool, closed too
        assert transport.inner.open_pools == 0
        assert first.content and second.content == first.content
        assert server.requests == 2
