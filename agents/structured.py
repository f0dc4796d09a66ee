"""Structured answers: ask for JSON matching a pydantic schema, re-ask on errors.

The schema goes out as a plain `json_schema` response format, which llama.cpp,
vLLM and OpenAI all constrain decoding to. An answer that still fails
validation — or is cut off at max_tokens — is shown back to the model with the
error, under a budget; after that `ModelOutputError` carries the reason and the
tokens spent so the caller can reject the sample with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from functools import cache
from typing import Any, TypeVar

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from agents.flow import REASK, stage
from agents.llm import usage_of
from synthloom.core.records import Usage

T = TypeVar("T", bound=BaseModel)


class ModelOutputError(Exception):
    """The model's answer stayed unusable after the re-ask budget."""

    def __init__(self, reason: str, usage: Usage) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage


def text_of(message: BaseMessage) -> str:
    """The text of a chat answer, whether content is a string or a list of parts."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


@cache
def response_format(schema: type[BaseModel]) -> dict[str, object]:
    """The OpenAI `response_format` for a pydantic schema (non-strict json_schema)."""
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


def _spec_body(model: BaseChatModel) -> dict[str, Any]:
    """The `extra_body` the spec set on `model` (a bound one replaces it, so merge)."""
    replicas = getattr(model, "models", None)  # an EndpointPool: its replicas share one spec
    target = replicas[0] if replicas else model
    return dict(getattr(target, "extra_body", None) or {})


async def ask_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    *,
    max_reasks: int,
    who: str,
) -> tuple[T, Usage]:
    """One validated `schema` instance from `model`, re-asking up to `max_reasks` times."""
    # Sent as a plain body field: bound as `response_format`, langchain-openai routes the
    # call through the beta `parse()` helper, which re-validates the request and answer
    # and costs more client CPU than the call itself; we validate with pydantic anyway.
    body = {**_spec_body(model), "response_format": response_format(schema)}
    bound = model.bind(extra_body=body)
    history = list(messages)
    usage = Usage()
    problem = ""
    for attempt in range(max_reasks + 1):
        try:
            with stage(REASK) if attempt else nullcontext():
                answer = await bound.ainvoke(history)
        except openai.LengthFinishReasonError as exc:
            usage += _usage_of_completion(exc.completion)
            answer = AIMessage(_completion_text(exc.completion))
            problem = "the answer was cut off at max_tokens; write a shorter answer"
        else:
            usage += usage_of(answer)
            try:
                return schema.model_validate_json(text_of(answer)), usage
            except ValidationError as exc:
                problem = _first_error(exc)
            if answer.response_metadata.get("finish_reason") == "length":
                problem = "the answer was cut off at max_tokens; write a shorter answer"
        history = [
            *history,
            AIMessage(text_of(answer)),
            HumanMessage(
                f"That answer was not valid JSON for the schema ({problem}). "
                f"Reply with only a JSON object with the fields: {', '.join(schema.model_fields)}."
            ),
        ]
    raise ModelOutputError(f"{who} gave malformed JSON {max_reasks + 1} times: {problem}", usage)
