"""The expander role: proposes narrower subtopics of one concept-tree node.

The answer is requested as JSON under a `json_schema` response format and re-asked
with the validation error (malformed JSON, no children, a name too long) under a
budget (`agents.structured.ask_structured`); after that `ModelOutputError` carries
the reason and the tokens spent, and the expansion records a failure for that node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from agents.base import Role
from agents.structured import ask_structured
from prompts import PromptSource
from synthloom.core.records import Usage

NAME_MAX_CHARS = 80
DESCRIPTION_MAX_CHARS = 400


class ProposedChild(BaseModel):
    """One proposed subtopic."""

    name: str = Field(
        min_length=2,
        max_length=NAME_MAX_CHARS,
        description="A short noun phrase naming one narrower subtopic of the parent.",
    )
    description: str = Field(
        default="",
        max_length=DESCRIPTION_MAX_CHARS,
        description="One sentence: what the subtopic covers and how it belongs under the parent.",
    )


class ChildProposals(BaseModel):
    """The expander's answer."""

    children: list[ProposedChild] = Field(
        min_length=1,
        description="Distinct, specific subtopics of the parent, each narrower than it.",
    )


@dataclass(frozen=True)
class Expander(Role):
    """Asks the model for children of one node, grounded in snippets when there are any."""

    who = "expander"

    def render(
        self,
        *,
        path: Sequence[str],
        description: str,
        existing: Sequence[str],
        count: int,
        knowledge: Sequence[str] = (),
        instructions: str | None = None,
    ) -> str:
        """The prompt for one node (its path runs from the root down to it)."""
        return self.render_prompt(
            domain=path[0],
            instructions=instructions,
            knowledge=list(knowledge),
            path=list(path),
            description=description,
            existing=list(existing),
            count=count,
        )

    async def propose(
        self, text: str, *, max_calls: int | None = None
    ) -> tuple[list[ProposedChild], Usage]:
        """Send the rendered prompt; re-ask a malformed answer, within `max_calls` calls."""
        calls = min(self.max_reasks + 1, max_calls) if max_calls else self.max_reasks + 1
        answer, usage = await ask_structured(
            self.model, [HumanMessage(text)], ChildProposals, max_reasks=calls - 1, who=self.who
        )
        return answer.children, usage


def build_expander(
    model: BaseChatModel, *, max_reasks: int = 2, prompt_dir: str | None = None
) -> Expander:
    """The expander with its packaged (or overridden) prompt file."""
    source = PromptSource(prompt_dir)
    return Expander(model, source.load("expander"), max_reasks, source=source)
