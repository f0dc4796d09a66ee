"""The dialogue's two LLM roles: a simulated user and the assistant.

A role renders its prompt file, calls its model and returns a validated answer
with the tokens it spent. Structured answers that fail validation are re-asked
with the validation error, under a budget, then raised as `ModelOutputError`
so the graph can reject the sample with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, create_model

from agents.base import Role, language_of
from agents.llm import usage_of
from agents.structured import (
    ModelOutputError,
    _completion_text,
    _first_error,
    _usage_of_completion,
    ask_structured,
    response_format,
    text_of,
)
from prompts import PromptSource
from synthloom.core.records import Grounded, Plan, Turn, Usage

__all__ = [
    "Assistant",
    "AssistantReply",
    "ModelOutputError",
    "ThoughtfulAnswer",
    "UserReply",
    "UserSimulator",
    "build_roles",
    # Deprecated private aliases (see the end of this module).
    "_completion_text",
    "_first_error",
    "_response_format",
    "_text_of",
    "_usage_of_completion",
]


# Real people paste whole documents into a message (ShareGPT's longest user turns run
# past 13,000 characters); a spec can lower this to keep a small model terse.
USER_MESSAGE_MAX_CHARS = 50_000


def reference_passages(grounding: Grounded | None) -> list[dict[str, str]]:
    """Retrieved snippets as prompt variables: the text and where it comes from."""
    if grounding is None:
        return []
    return [
        {
            "text": str(c["text"]),
            "title": " — ".join(str(x) for x in (c.get("title"), c.get("section")) if x),
        }
        for c in grounding["knowledge"]
    ]


def demo_dialogues(grounding: Grounded | None) -> list[list[dict[str, str]]]:
    """The chosen demos' turns (user and assistant) as prompt variables."""
    if grounding is None:
        return []
    return [
        [{"role": str(m["role"]), "content": str(m["content"])} for m in d["messages"]]
        for d in grounding["demos"]
    ]


def demo_openings(grounding: Grounded | None) -> list[list[str]]:
    """What the person wrote in each demo: how real people ask, for the user simulator."""
    return [
        [t["content"] for t in dialogue if t["role"] == "user"]
        for dialogue in demo_dialogues(grounding)
    ]


def subjects_of(grounding: Grounded | None) -> list[str]:
    """Headings of the retrieved snippets: what a person might ask about, not the facts."""
    seen: list[str] = []
    for passage in reference_passages(grounding):
        if passage["title"] and passage["title"] not in seen:
            seen.append(passage["title"])
    return seen


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


@cache
def user_reply_schema(max_chars: int) -> type[UserReply]:
    """`UserReply` with the message bounded at `max_chars` (the schema the model sees)."""
    if max_chars == USER_MESSAGE_MAX_CHARS:
        return UserReply
    field = Field(
        min_length=1,
        max_length=max_chars,
        description="The person's next message, in the first person.",
    )
    return create_model("UserReply", __base__=UserReply, message=(str, field))


@dataclass(frozen=True)
class UserSimulator(Role):
    """Plays a person with the sampled persona and goal (UltraChat's user model)."""

    max_chars: int = USER_MESSAGE_MAX_CHARS
    who = "user simulator"

    async def next_turn(
        self,
        plan: Plan,
        turns: Sequence[Turn],
        *,
        can_end: bool,
        feedback: str | None,
        grounding: Grounded | None = None,
    ) -> tuple[UserReply, Usage]:
        """Ask for the person's next message as JSON, re-asking on malformed output."""
        return await self.ask(
            user_reply_schema(self.max_chars),
            language=language_of(plan),
            topic=plan.topic,
            conditions=plan.conditions,
            demos=demo_openings(grounding),
            subjects=subjects_of(grounding),
            transcript=[dict(t) for t in turns],
            can_end=can_end,
            avoid=list(plan.avoid),
            feedback=feedback,
        )


class ThoughtfulAnswer(BaseModel):
    """The assistant's private reasoning, then the reply the person sees."""

    reasoning: str = Field(description="Think through the person's situation first (hidden).")
    answer: str = Field(min_length=1, description="The reply the person sees.")


@dataclass(frozen=True)
class AssistantReply:
    """One assistant answer with its bookkeeping."""

    text: str
    usage: Usage
    truncated: bool = False
    reasoning: str | None = None


@dataclass(frozen=True)
class Assistant(Role):
    """Answers as the assistant being trained, under the spec's system prompt.

    With `reason_first`, it thinks before answering (a structured
    `{reasoning, answer}` call); the reasoning is kept hidden in the record.
    """

    system_prompt: str = field(kw_only=True)
    reason_first: bool = field(default=False, kw_only=True)
    who = "assistant"

    def system_message(
        self, plan: Plan, feedback: str | None = None, grounding: Grounded | None = None
    ) -> str:
        """The full system prompt for this plan (stable across the dialogue's turns).

        Without `grounding` it is the system prompt a training record keeps: the
        reference snippets and demos scaffold generation, they are not the task.
        """
        return self.render_prompt(
            language_of(plan),
            system_prompt=self.system_prompt,
            knowledge=reference_passages(grounding),
            demos=demo_dialogues(grounding),
            topic=plan.topic,
            conditions=plan.conditions,
            feedback=feedback,
        )

    async def reply(
        self,
        plan: Plan,
        turns: Sequence[Turn],
        *,
        feedback: str | None,
        grounding: Grounded | None = None,
    ) -> AssistantReply:
        """The assistant's next message, with its usage and whether max_tokens cut it off."""
        history: list[BaseMessage] = [
            HumanMessage(t["content"]) if t["role"] == "user" else AIMessage(t["content"])
            for t in turns
        ]
        messages = [SystemMessage(self.system_message(plan, feedback, grounding)), *history]
        if self.reason_first:
            thought, usage = await ask_structured(
                self.model, messages, ThoughtfulAnswer, max_reasks=self.max_reasks, who=self.who
            )
            return AssistantReply(thought.answer.strip(), usage, False, thought.reasoning.strip())
        answer = await self.model.ainvoke(messages)
        finish = answer.response_metadata.get("finish_reason")
        return AssistantReply(text_of(answer).strip(), usage_of(answer), finish == "length")


def build_roles(
    user_model: BaseChatModel,
    assistant_model: BaseChatModel,
    *,
    system_prompt: str,
    max_reasks: int,
    reason_first: bool = False,
    prompt_dir: str | None = None,
    user_max_chars: int = USER_MESSAGE_MAX_CHARS,
    source: PromptSource | None = None,
) -> tuple[UserSimulator, Assistant]:
    """Both dialogue roles with their packaged (or overridden) prompt files.

    `source` (the spec's `prompts`) overrides `prompt_dir` and names per-language folders.
    """
    source = source or PromptSource(prompt_dir)
    return (
        UserSimulator(
            user_model,
            source.load("user_simulator"),
            max_reasks,
            user_max_chars,
            source=source,
        ),
        Assistant(
            assistant_model,
            source.load("assistant"),
            max_reasks,
            system_prompt=system_prompt,
            reason_first=reason_first,
            source=source,
        ),
    )


# Deprecated private aliases, kept while other modules move to agents.structured.
_response_format = response_format
_text_of = text_of
