"""Repeat mode of the scripted server: repeated openings replay whole conversations."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

USER_REPLY: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "UserReply",
        "schema": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "end_conversation": {"type": "boolean"}},
            "required": ["message", "end_conversation"],
        },
    },
}


def opening(client: openai.OpenAI, topic: str, avoid: tuple[str, ...] = ()) -> str:
    lines = [f"Topic: {topic}", "Write the PERSON's first message."]
    lines += [f"- {a}" for a in avoid]
    messages: list[Any] = [{"role": "user", "content": "\n".join(lines)}]
    reply = client.chat.completions.create(
        model="m",
        messages=messages,
        response_format=USER_REPLY,
    )
    return str(json.loads(reply.choices[0].message.content or "{}")["message"])


def answer(client: openai.OpenAI, topic: str, said: str) -> str:
    messages: list[Any] = [
        {"role": "system", "content": f"You help with {topic}."},
        {"role": "user", "content": said},
    ]
    reply = client.chat.completions.create(model="m", messages=messages)
    return str(reply.choices[0].message.content)


def follow_up(client: openai.OpenAI, topic: str, said: str, answered: str) -> str:
    transcript = f"Topic: {topic}\nThe conversation so far:\nPERSON: {said}\nASSISTANT: {answered}"
    messages: list[Any] = [{"role": "user", "content": transcript}]
    reply = client.chat.completions.create(
        model="m",
        messages=messages,
        response_format=USER_REPLY,
    )
    return str(json.loads(reply.choices[0].message.content or "{}")["message"])


def test_a_repeated_opening_replays_the_conversation_it_came_from() -> None:
    with ScriptedOpenAIServer(repeat_share=0.3) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        played: dict[str, tuple[str, str]] = {}
        for i in range(40):
            topic = f"topic {i}"
            said = opening(client, topic)
            answered = answer(client, topic, said)
            then = follow_up(client, topic, said, answered)
            if said in played:
                # The same opening, then the same dialogue, for another topic.
                assert played[said] == (answered, then)
            played.setdefault(said, (answered, then))
        stats = server.repeats.stats if server.repeats else None
    assert stats is not None and stats.openings == 40
    assert 6 <= stats.repeated <= 18  # about 30% of 40, the first never
    assert len(played) == 40 - stats.repeated
    assert stats.replayed >= 2 * stats.repeated


def test_an_opening_shown_as_already_covered_is_still_an_opening() -> None:
    with ScriptedOpenAIServer(repeat_share=0.3) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        first = opening(client, "sleep")
        for i in range(10):
            opening(client, f"sleep {i}", avoid=(first,))
        stats = server.repeats.stats if server.repeats else None
    assert stats is not None and stats.openings == 11 and stats.replayed == 0
