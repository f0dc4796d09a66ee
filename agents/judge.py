"""The curation judges: a rubric scorer, a faithfulness checker and a labeler.

Each judge renders its prompt file, asks its model for JSON constrained by a
`json_schema` response format, validates the answer with a pydantic model whose
field descriptions double as the instructions, and re-asks with the validation
error under a budget. An answer still unusable after the budget raises
`ModelOutputError`, which curation records as "unjudged" (never kept or dropped
silently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, create_model

from agents.base import Role
from agents.structured import ModelOutputError
from prompts import PromptSource
from synthloom.core.records import Turn, Usage

T = TypeVar("T", bound=BaseModel)

RUBRIC_PROMPT = "judge_rubric"
FAITHFULNESS_PROMPT = "faithfulness"
LABELER_PROMPT = "labeler"
OTHER_TOPIC = "other"


class CriterionScore(BaseModel):
    """One rubric criterion's score."""

    criterion: str = Field(description="The criterion's name exactly as the rubric writes it.")
    score: int = Field(ge=1, le=5, description="1 = fails the criterion badly, 5 = excellent.")


class RubricVerdict(BaseModel):
    """The rubric judge's verdict on one dialogue."""

    rationale: str = Field(
        max_length=1200,
        description="Two or three sentences on the dialogue's main strengths and flaws, "
        "written before the scores.",
    )
    criteria: list[CriterionScore] = Field(
        min_length=1, max_length=12, description="One score per rubric criterion, in rubric order."
    )
    overall: int = Field(
        ge=1,
        le=5,
        description="Overall fitness as training data: 1 unusable, 3 acceptable, 5 exemplary.",
    )


ClaimStatus = Literal["supported", "unsupported", "contradicted"]


class ClaimCheck(BaseModel):
    """One factual claim of the assistant checked against the sources."""

    claim: str = Field(
        min_length=1, max_length=400, description="The claim, restated briefly and precisely."
    )
    verdict: ClaimStatus = Field(
        description="supported: a source states it; contradicted: a source states otherwise; "
        "unsupported: no source states it either way."
    )
    source: int | None = Field(
        default=None,
        description="Number of the source that supports or contradicts it; null if unsupported.",
    )


class FaithfulnessVerdict(BaseModel):
    """Every checkable factual claim the assistant made, each with its verdict."""

    claims: list[ClaimCheck] = Field(
        max_length=40,
        description="Factual claims made by the ASSISTANT only (not the user); an empty list "
        "if the assistant made none.",
    )


Difficulty = Literal["easy", "medium", "hard"]
Quality = Literal["low", "medium", "high"]


class SampleLabels(BaseModel):
    """Labels for one dialogue, used to relabel, tag and measure agreement."""

    topic: str = Field(
        description="The listed topic the dialogue is actually about, copied exactly; "
        f"'{OTHER_TOPIC}' if none fits."
    )
    difficulty: Difficulty = Field(
        description="easy: common knowledge; medium: needs some domain knowledge; "
        "hard: specialist reasoning or several interacting factors."
    )
    quality: Quality = Field(
        description="low: unhelpful, wrong or unnatural; medium: usable with flaws; "
        "high: accurate, natural and helpful."
    )
    tags: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="Up to five short lowercase tags for what the dialogue covers.",
    )


@cache
def labels_schema(topics: tuple[str, ...]) -> type[SampleLabels]:
    """`SampleLabels` whose topic must be one of `topics` or 'other' (an enum in the schema)."""
    choices: Any = Literal[(*topics, OTHER_TOPIC)]
    topic_field = SampleLabels.model_fields["topic"]
    return create_model(
        "SampleLabels",
        __base__=SampleLabels,
        topic=(choices, Field(description=topic_field.description)),
    )


@cache
def faithfulness_schema(sources: int) -> type[FaithfulnessVerdict]:
    """`FaithfulnessVerdict` whose claims may cite only sources 1..`sources`."""
    source_field = ClaimCheck.model_fields["source"]
    claim = create_model(
        "ClaimCheck",
        __base__=ClaimCheck,
        source=(
            int | None,
            Field(default=None, ge=1, le=max(sources, 1), description=source_field.description),
        ),
    )
    claims_field = FaithfulnessVerdict.model_fields["claims"]
    return create_model(
        "FaithfulnessVerdict",
        __base__=FaithfulnessVerdict,
        claims=(list[claim], Field(max_length=40, description=claims_field.description)),
    )


@dataclass(frozen=True)
class _Judge(Role):
    async def ask(
        self, schema: type[T], *, language: str | None = None, **variables: Any
    ) -> tuple[T, Usage]:
        try:
            return await super().ask(schema, language=language, **variables)
        except ModelOutputError as exc:
            # Curation records this sample as unjudged, never as kept or dropped.
            raise ModelOutputError(f"unjudged: {exc.reason}", exc.usage) from exc


def transcript_of(messages: Sequence[Turn]) -> list[dict[str, str]]:
    """The dialogue without its system prompt, as plain dicts for a template."""
    return [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]


@dataclass(frozen=True)
class RubricJudge(_Judge):
    """Scores a dialogue against the rubric in `judge_rubric.jinja2`."""

    who = "rubric judge"

    async def score(
        self, messages: Sequence[Turn], *, topic: str, conditions: Mapping[str, str]
    ) -> tuple[RubricVerdict, Usage]:
        """The rubric verdict for one dialogue."""
        return await self.ask(
            RubricVerdict,
            topic=topic,
            conditions=dict(conditions),
            transcript=transcript_of(messages),
        )


@dataclass(frozen=True)
class FaithfulnessChecker(_Judge):
    """Checks the assistant's factual claims against the sample's retrieved sources."""

    who = "faithfulness checker"

    async def check(
        self, messages: Sequence[Turn], sources: Sequence[str]
    ) -> tuple[FaithfulnessVerdict, Usage]:
        """Claims with supported / unsupported / contradicted verdicts."""
        return await self.ask(
            faithfulness_schema(len(sources)),
            sources=list(sources),
            transcript=transcript_of(messages),
        )


@dataclass(frozen=True)
class Labeler(_Judge):
    """Relabels a dialogue's topic and tags its difficulty and quality."""

    who = "labeler"

    async def label(
        self, messages: Sequence[Turn], *, topics: Sequence[str]
    ) -> tuple[SampleLabels, Usage]:
        """Labels for one dialogue; `topic` is one of `topics` or 'other'."""
        return await self.ask(
            labels_schema(tuple(topics)), topics=list(topics), transcript=transcript_of(messages)
        )


def build_judges(
    model: BaseChatModel, *, max_reasks: int = 2, prompt_dir: str | None = None
) -> tuple[RubricJudge, FaithfulnessChecker, Labeler]:
    """The three judge roles on one model, with packaged (or overridden) prompt files.

    An override folder may hold only some of the three; the others are the packaged ones.
    """
    source = PromptSource(prompt_dir)
    return (
        RubricJudge(model, source.load(RUBRIC_PROMPT), max_reasks, source=source),
        FaithfulnessChecker(model, source.load(FAITHFULNESS_PROMPT), max_reasks, source=source),
        Labeler(model, source.load(LABELER_PROMPT), max_reasks, source=source),
    )
