"""Records that flow through a run: plans in, samples and rejects out."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

Role = Literal["system", "user", "assistant"]


class Usage(BaseModel):
    """Token accounting summed over a sample's model calls."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )

    @classmethod
    def of(cls, data: UsageDict | dict[str, int] | None) -> Usage:
        """Read back a usage mapping (missing keys count as zero)."""
        data = data or {}
        return cls(
            calls=data.get("calls", 0),
            prompt_tokens=data.get("prompt_tokens", 0),
            completion_tokens=data.get("completion_tokens", 0),
        )

    def as_dict(self) -> UsageDict:
        """The OpenAI-style usage mapping written into records."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def add_usage(left: UsageDict | None, right: UsageDict | None) -> UsageDict:
    """Reducer for graph state: usage only ever accumulates."""
    return (Usage.of(left) + Usage.of(right)).as_dict()


class Turn(TypedDict):
    """One message of a dialogue; a plain dict so graph checkpoints stay JSON-native."""

    role: Role
    content: str
    reasoning: NotRequired[str]


class UsageDict(TypedDict):
    """Usage as carried in graph state and written into records."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Grounded(TypedDict):
    """The knowledge one sample is generated with, as carried in graph state.

    `knowledge` and `demos` feed the prompts only; `sources` (chunk ids) and the
    demo ids go on the record so every sample can be traced to what it was shown.
    """

    knowledge: list[dict[str, Any]]
    demos: list[dict[str, Any]]
    knowledge_conditions: dict[str, str]
    sources: list[str]
    missing_conditions: NotRequired[list[str]]
    """Knowledge-drawn attributes the extractor cited no valid passage for."""


class Plan(BaseModel):
    """What one sample is about; deterministic from the spec and its index."""

    model_config = ConfigDict(frozen=True)

    id: str
    index: int
    topic: str
    conditions: dict[str, str] = Field(default_factory=dict)
    rounds: int = Field(ge=1, description="Assistant turns the dialogue aims for.")
    round: int = Field(default=0, ge=0, description="0: the base run; r: refinement round r.")
    avoid: tuple[str, ...] = Field(
        default=(), description="Already-covered examples to steer away from (refinement)."
    )
    parent_id: str | None = Field(default=None, description="The sample this one deepens.")
    parent_question: str | None = None
    operation: str | None = Field(default=None, description="How to deepen the parent.")
    leaf: str | None = Field(default=None, description="The concept-tree leaf (its node id).")
    attempt: int = Field(
        default=0, ge=0, description="0: the slot's first try; k: its k-th replacement."
    )


class SampleRecord(BaseModel):
    """An accepted sample in OpenAI chat format with its metadata."""

    messages: list[Turn]
    metadata: dict[str, Any]

    @property
    def id(self) -> str:
        """The plan-derived sample id."""
        return str(self.metadata["id"])


RejectStatus = Literal["rejected", "failed"]


class RejectRecord(BaseModel):
    """A sample that did not make it, kept with its reason so nothing vanishes.

    `rejected`: the model's output failed our checks; `failed`: the endpoint refused
    the request for this sample (e.g. a 400 for a too-long context).
    """

    id: str
    status: RejectStatus
    reason: str
    reason_code: str | None = Field(
        default=None, description="The failing check's stable code (`loop`, `role_flip`, ...)."
    )
    stage: str
    plan: Plan
    messages: list[Turn] = Field(default_factory=list)
    usage: dict[str, int] = Field(default_factory=dict)
