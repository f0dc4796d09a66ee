"""Scripted chat models for unit tests of graph logic (langchain-core's fakes)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult

from agents.roles import build_roles
from graphs.dialogue import DialogueContext


class RecordingFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that remembers the prompts it was sent."""

    prompts: list[list[BaseMessage]] = []

    def __init__(self, replies: Iterable[AIMessage | str], **kwargs: Any) -> None:
        msgs = [r if isinstance(r, AIMessage) else AIMessage(r) for r in replies]
        super().__init__(messages=iter(msgs), **kwargs)
        self.prompts = []

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.prompts.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def user_json(message: str, end: bool = False) -> str:
    """What a well-behaved user simulator answers."""
    return json.dumps({"message": message, "end_conversation": end})


def truncated(text: str) -> AIMessage:
    """An answer the server cut off at max_tokens."""
    return AIMessage(text, response_metadata={"finish_reason": "length"})


def make_context(
    user_replies: Iterable[AIMessage | str],
    assistant_replies: Iterable[AIMessage | str],
    **settings: Any,
) -> tuple[DialogueContext, RecordingFakeChatModel, RecordingFakeChatModel]:
    """A dialogue context with scripted roles, plus the two fakes for inspection."""
    user_model = RecordingFakeChatModel(user_replies)
    assistant_model = RecordingFakeChatModel(assistant_replies)
    max_reasks = settings.pop("max_reasks", 1)
    user, assistant = build_roles(
        user_model, assistant_model, system_prompt="You are a clinician.", max_reasks=max_reasks
    )
    context = DialogueContext(user=user, assistant=assistant, **settings)
    return context, user_model, assistant_model
