"""The head every LLM role shares: a model, a prompt file, a re-ask budget, a name.

A role renders its prompt (the file written for the sample's language when there is
one, else the English file with an instruction to write in that language), asks its
model for JSON matching a pydantic schema, and re-asks with the validation error
under the budget (`agents.structured.ask_structured`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agents.llm import model_name
from agents.structured import ask_structured
from prompts import PromptSource, PromptTemplate, language_instruction
from synthloom.core.records import Plan, Usage

T = TypeVar("T", bound=BaseModel)

ENGLISH = "en"


def language_of(plan: Plan | None) -> str:
    """The language a plan's sample is written in (its `language` condition, else English)."""
    if plan is None:
        return ENGLISH
    return plan.conditions.get("language", ENGLISH).lower()


# Scripts that name their language on sight: no English text is written in them.
_SCRIPTS = (("ko", re.compile(r"[\uac00-\ud7a3]")), ("ja", re.compile(r"[\u3040-\u30ff]")))
SCRIPT_SHARE = 0.3


def script_language(text: str) -> str | None:
    """`ko` for Hangul text, `ja` for kana; None when the script does not say."""
    letters = sum(1 for c in text if c.isalpha())
    for code, pattern in _SCRIPTS:
        if letters and len(pattern.findall(text)) >= SCRIPT_SHARE * letters:
            return code
    return None


@dataclass(frozen=True)
class Role:
    """One LLM role: renders its prompt for a language, asks its model, re-asks on errors."""

    model: BaseChatModel
    prompt: PromptTemplate
    max_reasks: int = 2
    source: PromptSource = field(default_factory=PromptSource, kw_only=True)
    """Where this role's prompt for another language comes from (override folders)."""

    who: ClassVar[str] = "role"
    """How error messages name the role ("user simulator gave malformed JSON ...")."""

    @property
    def name(self) -> str:
        """The served model's name."""
        return model_name(self.model)

    def render_prompt(
        self, language: str | None = None, *, prompt: PromptTemplate | None = None, **variables: Any
    ) -> str:
        """The prompt text for a sample in `language`, with the role's variables filled in."""
        base = prompt or self.prompt
        code = (language or ENGLISH).lower()
        template = self.source.find(base.name, code) or base
        text = template.render(**variables)
        if template.language != code:
            text = f"{text}\n\n{language_instruction(code)}"
        return text

    async def ask(
        self, schema: type[T], *, language: str | None = None, **variables: Any
    ) -> tuple[T, Usage]:
        """One validated `schema` answer to this role's prompt rendered with `variables`."""
        text = self.render_prompt(language, **variables)
        return await ask_structured(
            self.model, [HumanMessage(text)], schema, max_reasks=self.max_reasks, who=self.who
        )
