"""Tests for the scripted OpenAI-compatible server, driven through the real openai client."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel

from tests.support.openai_server import ScriptedOpenAIServer, count_words, schema_instance

pytestmark = pytest.mark.integration

USER: list[Any] = [{"role": "user", "content": "Tell me about rivers"}]


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv


def client_for(server: ScriptedOpenAIServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, **kwargs)


def chat(client: openai.OpenAI, messages: list[Any] | None = None, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="m", messages=messages or USER, **kwargs)


class Step(BaseModel):
    title: str
    done: bool
    priority: int
    weight: float
    kind: Literal["setup", "teardown"]


class Plan(BaseModel):
    summary: str
    steps: list[Step]
    owner: Step | None


def test_models_endpoint_lists_the_model(server: ScriptedOpenAIServer) -> None:
    models = client_for(server).models.list()
    assert [m.id for m in models.data] == [server.model]


def test_default_reply_has_usage_and_varies_per_turn(server: ScriptedOpenAIServer) -> None:
    client = client_for(server)
    first = chat(client)
    text = first.choices[0].message.content
    assert first.object == "chat.completion"
    assert 12 <= len(text.split()) <= 30
    assert first.usage.prompt_tokens == 4
    assert first.usage.completion_tokens == len(text.split())
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens

    assert chat(client).choices[0].message.content == text  # deterministic
    turn2 = [*USER, {"role": "assistant", "content": text}, {"role": "user", "content": "more"}]
    assert chat(client, turn2).choices[0].message.content != text

    short = chat(client, max_tokens=3)
    assert len(short.choices[0].message.content.split()) == 3
    assert short.choices[0].finish_reason == "length"


def test_json_schema_reply_validates(server: ScriptedOpenAIServer) -> None:
    client = client_for(server)
    parsed = client.chat.completions.parse(model="m", messages=USER, response_format=Plan)
    plan = parsed.choices[0].message.parsed
    assert isinstance(plan, Plan)
    assert len(plan.steps) == 1
    assert plan.steps[0].done is False
    assert plan.steps[0].priority == 1
    assert plan.steps[0].weight == 0.5
    assert plan.steps[0].kind == "setup"
    assert plan.summary != plan.steps[0].title  # strings vary by property
    assert str(count_words(USER)) in plan.summary  # and by conversation length

    sent = server.request_log[-1]["response_format"]
    assert sent["type"] == "json_schema"
    expected = schema_instance(sent["json_schema"]["schema"])
    assert set(expected) == set(Plan.model_fields)


def test_tool_call_reply(server: ScriptedOpenAIServer) -> None:
    client = client_for(server)
    tools: Any = [openai.pydantic_function_tool(Step, name="add_step")]
    reply = chat(client, tools=tools, tool_choice="required")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "add_step"
    Step.model_validate_json(call.function.arguments)
    assert reply.usage.completion_tokens > 0

    # After a tool result, "auto" answers in text so agent loops terminate.
    follow_up = [
        *USER,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "ok"},
    ]
    final = chat(client, follow_up, tools=tools, tool_choice="auto")
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].message.content


def test_responder_scripts_exact_replies(server: ScriptedOpenAIServer) -> None:
    server.responder = lambda body: "scripted!" if "rivers" in json.dumps(body) else None
    client = client_for(server)
    assert chat(client).choices[0].message.content == "scripted!"
    other = chat(client, [{"role": "user", "content": "lakes"}]).choices[0].message.content
    assert other != "scripted!"


def test_fail_next_500_then_success(server: ScriptedOpenAIServer) -> None:
    client = client_for(server)
    server.fail_next(500, count=2)
    assert server.pending_faults() == 2
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as info:
            chat(client)
        assert info.value.body is not None
    assert server.pending_faults() == 0
    assert chat(client).choices[0].message.content
    assert server.stats.status_counts == {500: 2, 200: 1}
    assert server.stats.requests == 3


def test_fail_next_429_sets_retry_after(server: ScriptedOpenAIServer) -> None:
    server.fail_next(429, retry_after=1.5)
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps({"model": "m", "messages": USER}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 429
    assert info.value.headers["Retry-After"] == "1.5"
    error = json.loads(info.value.read())["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert set(error) >= {"message", "type", "code"}

    server.fail_next(429, body={"error": {"message": "slow down", "type": "x", "code": "y"}})
    with pytest.raises(openai.RateLimitError, match="slow down"):
        chat(client_for(server))


def test_malformed_next_returns_broken_content(server: ScriptedOpenAIServer) -> None:
    client = client_for(server)
    server.malformed_next()
    reply = chat(client)
    assert reply.choices[0].message.content == '{"message": "unterminated'
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.choices[0].message.content)
    assert chat(client).choices[0].message.content != '{"message": "unterminated'


def test_stream_is_rejected(server: ScriptedOpenAIServer) -> None:
    with pytest.raises(openai.BadRequestError):
        chat(client_for(server), stream=True)


def test_hang_next_times_out_and_stop_does_not_block() -> None:
    server = ScriptedOpenAIServer().start()
    try:
        server.hang_next(30)
        with pytest.raises(openai.APITimeoutError):
            chat(client_for(server, timeout=0.3))
        assert chat(client_for(server, timeout=5)).choices[0].message.content
        server.hang_next(30)
        with pytest.raises(openai.APITimeoutError):
            chat(client_for(server, timeout=0.2))
    finally:
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 3


def test_max_concurrency_is_respected() -> None:
    with ScriptedOpenAIServer(latency=0.2, max_concurrency=2) as server:
        client = client_for(server, timeout=10)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                chat(client)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(10)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        assert not errors
        stats = server.stats
        assert stats.requests == 10
        assert stats.max_in_flight == 2
        assert elapsed >= 0.9  # 5 waves of 0.2 s
        server.reset_stats()
        assert server.stats.requests == 0
        assert server.request_log == []


def test_langchain_openai_sees_usage(server: ScriptedOpenAIServer) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model="m", base_url=server.base_url, api_key="x", max_retries=0, timeout=5
    )
    message = llm.invoke("Tell me about rivers")
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 4
    assert message.usage_metadata["total_tokens"] > 4
    plan = llm.with_structured_output(Plan, method="json_schema").invoke("Plan a trip")
    assert isinstance(plan, Plan)


def test_cli_serves_in_a_separate_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("LISTENING http://127.0.0.1:")
        base_url = line.split()[1]
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            assert json.loads(response.read())["data"][0]["id"]
    finally:
        proc.terminate()
        returncode = proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert returncode == 0
