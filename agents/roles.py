"""The dialogue's two LLM roles: a simulated user and the assistant.

A role renders its prompt file, calls its model and returns a validated answer
with the tokens it spent. Structured answers that fail validation are re-asked
with the validation error, under a budget, then raised as `ModelOutputError`
so the graph can reject the sample with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field, ValidationError

from agents.llm import model_name, usage_of
from prompts import PromptTemplate, load_prompt
from synthloom.records import Plan, Turn, Usage


class ModelOutputError(Exception):
    """The model's answer stayed unusable after the re-ask budget."""

    def __init__(self, reason: str, usage: Usage) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage


USER_MESSAGE_MAX_CHARS = 400


class UserReply(BaseModel):
    """The simulated person's next message."""

    message: str = Field(
        min_length=1,
        max_length=USER_MESSAGE_MAX_CHARS,
        description="The person's next message, in the first person.",
    )
    end_conversation: bool = Field(
        default=False,
        description="True only when the person's questions are answered and they want to stop.",
    )


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def _response_format(schema: type[BaseModel]) -> dict[str, object]:
    # Plain (non-strict) json_schema: llama.cpp, vLLM and OpenAI all constrain to it.
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
    }


def _usage_of_completion(completion: ChatCompletion) -> Usage:
    usage = completion.usage
    if usage is None:
        return Usage(calls=1)
    return Usage(
        calls=1, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
    )


def _completion_text(completion: ChatCompletion) -> str:
    return (completion.choices[0].message.content or "") if completion.choices else ""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "answer"
    return f"{where}: {err['msg']}"


@dataclass(frozen=True)
class UserSimulator:
    """Plays a person with the sampled persona and goal (UltraChat's user model)."""

    model: BaseChatModel
    prompt: PromptTemplate
    max_reasks: int = 2

    @property
    def name(self) -> str:
        """The served model's name."""
        return model_name(self.model)

    async def next_turn(
        self, plan: Plan, turns: Sequence[Turn], *, can_end: bool, feedback: str | None
    ) -> tuple[UserReply, Usage]:
        """Ask for the person's next message as JSON, re-asking on malformed output."""
        text = self.prompt.render(
            topic=plan.topic,
            conditions=plan.conditions,
            transcript=[dict(t) for t in turns],
            can_end=can_end,
            feedback=feedback,
        )
        messages: list[BaseMessage] = [HumanMessage(text)]
        bound = self.model.bind(response_format=_response_format(UserReply))
        usage = Usage()
        problem = ""
        for _ in range(self.max_reasks + 1):
            try:
                answer = await bound.ainvoke(messages)
            except openai.LengthFinishReasonError as exc:
                # The JSON was cut off at max_tokens: re-ask for a shorter answer.
                usage += _usage_of_completion(exc.completion)
                answer = AIMessage(_completion_text(exc.completion))
                problem = "the answer was cut off at max_tokens; write a shorter message"
            else:
                usage += usage_of(answer)
                try:
                    return UserReply.model_validate_json(_text_of(answer)), usage
                except ValidationError as exc:
                    problem = _first_error(exc)
            raw = _text_of(answer)
            messages = [
                *messages,
                AIMessage(raw),
                HumanMessage(
                    f"That answer was not valid JSON for the schema ({problem}). "
                    'Reply with only {"message": "...", "end_conversation": false}.'
                ),
            ]
        attempts = self.max_reasks + 1
        raise ModelOutputError(
            f"user simulator gave malformed JSON {attempts} times: {problem}", usage
        )


@dataclass(frozen=True)
class Assistant:
    """Answers as the assistant being trained, under the spec's system prompt."""

    model: BaseChatModel
    prompt: PromptTemplate
    system_prompt: str

    @property
    def name(self) -> str:
        """The served model's name."""
        return model_name(self.model)

    def system_message(self, plan: Plan, feedback: str | None = None) -> str:
        """The full system prompt for this plan (stable across the dialogue's turns)."""
        return self.prompt.render(
            system_prompt=self.system_prompt,
            topic=plan.topic,
            conditions=plan.conditions,
            feedback=feedback,
        )

    async def reply(
        self, plan: Plan, turns: Sequence[Turn], *, feedback: str | None
    ) -> tuple[str, Usage, bool]:
        """The assistant's next message, its usage, and whether max_tokens cut it off."""
        history: list[BaseMessage] = [
            HumanMessage(t["content"]) if t["role"] == "user" else AIMessage(t["content"])
            for t in turns
        ]
        answer = await self.model.ainvoke(
            [SystemMessage(self.system_message(plan, feedback)), *history]
        )
        finish = answer.response_metadata.get("finish_reason")
        return _text_of(answer).strip(), usage_of(answer), finish == "length"


def build_roles(
    user_model: BaseChatModel,
    assistant_model: BaseChatModel,
    *,
    system_prompt: str,
    max_reasks: int,
    prompt_dir: str | None = None,
) -> tuple[UserSimulator, Assistant]:
    """Both dialogue roles with their packaged (or overridden) prompt files."""
    return (
        UserSimulator(user_model, load_prompt("user_simulator", prompt_dir), max_reasks),
        Assistant(assistant_model, load_prompt("assistant", prompt_dir), system_prompt),
    )
