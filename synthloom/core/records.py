"""Records that flow through a run: plans in, samples and rejects out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from typing_extensions import TypedDict

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Reason:
    """Why a sample was turned away: a stable code to count by, and text for people.

    The code (`loop`, `role_flip`, `near_duplicate`, ...) groups reasons in
    `run.json`, `curation.json` and the report; the text names the turn and the
    detail, and is what the model is told when it is asked again.
    """

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def code_of(record: Mapping[str, Any]) -> str:
    """The code a reject counts under: its `reason_code`, or one read off its reason text.

    Every reject written now carries its code; the text is read only for run
    folders written before codes existed, and for endpoint errors (`HTTP 400 ...`).
    """
    code = record.get("reason_code")
    return str(code) if code else legacy_code(str(record.get("reason") or ""))


def legacy_code(reason: str) -> str:
    """A code from a reason's wording: `HTTP 400 ...` → `http_400`, `loop: ...` → `loop`."""
    if reason.startswith("HTTP "):
        return "http_" + (reason.split()[1:2] or ["error"])[0]
    if reason.startswith("near_duplicate of "):
        return "near_duplicate"  # not one key per sample repeated
    head = reason.split(" (", 1)[0].split(": ", 1)[0].strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", head).strip("_") or "unknown"


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


class SampleMeta(BaseModel):
    """A sample's metadata: where it came from, what it was shown, what it cost.

    Written by the tasks, read back by curation, the report, resume and the
    novelty gate. Only the fields a sample has are written (a base sample has no
    `round`, an ungrounded one no `sources`), so files keep the shape they always
    had; task-specific fields (`cot`, `curation`, ...) ride along as extras.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    index: int = 0
    task: str = "dialogue"
    topic: str = ""
    conditions: dict[str, str] = Field(default_factory=dict)
    language: str | None = None
    round: int = 0
    leaf: str | None = None
    attempt: int = 0
    parent_id: str | None = None
    operation: str | None = None
    # Chunks and demos as recorded: `{id, text, ...}` mappings (older files: bare text).
    sources: list[dict[str, Any] | str] = Field(default_factory=list)
    demos: list[dict[str, Any] | str] = Field(default_factory=list)
    knowledge_conditions: dict[str, str] = Field(default_factory=dict)
    knowledge_conditions_missing: list[str] = Field(default_factory=list)
    models: dict[str, str] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=dict)
    spec_fingerprint: str | None = None
    synthloom_version: str | None = None
    created_at: str | None = None
    # Dialogues.
    rounds: int | None = None
    target_rounds: int | None = None
    ended_by: str | None = None
    regenerations: int = 0
    trimmed_turns: int = 0
    novelty_retries: int = 0
    reasoning: dict[str, str] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        extra = self.model_extra or {}
        return {k: v for k, v in data.items() if k in self.model_fields_set or k in extra}

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> SampleMeta:
        """The metadata of a sample record as read from a file (a missing id reads as '')."""
        meta = record.get("metadata")
        data = dict(meta) if isinstance(meta, Mapping) else {}
        data.setdefault("id", "")
        return cls.model_validate(data)


class SampleRecord(BaseModel):
    """An accepted sample in OpenAI chat format with its metadata."""

    messages: list[Turn]
    metadata: SampleMeta

    @property
    def id(self) -> str:
        """The plan-derived sample id."""
        return self.metadata.id


RejectStatus = Literal["rejected", "failed", "unjudged"]


class ReasonEntry(TypedDict):
    """One block's reason for turning a sample away in curation."""

    block: str
    code: str
    reason: str


class RejectRecord(BaseModel):
    """A sample that did not make it, kept with its reason so nothing vanishes.

    One shape for both stages. Generation (`stage` is the task): `rejected` when
    the model's output failed our checks, `failed` when the endpoint refused the
    request for this sample (e.g. a 400 for a too-long context); the plan rides
    along so a replacement can be dealt. Curation (`stage: curate`): `rejected` by
    a filter, dedup or judge, or `unjudged` when a judge could not decide; every
    block's reason is in `reasons`, and the sample's metadata comes with it.
    """

    id: str
    status: RejectStatus
    reason: str
    reason_code: str | None = Field(
        default=None, description="The stable code to count by (`loop`, `role_flip`, ...)."
    )
    stage: str
    plan: Plan | None = None
    # Mappings, not Turns: an imported dataset's messages keep every key they came with.
    messages: Sequence[Mapping[str, Any]] = Field(default_factory=list)
    usage: dict[str, int] | None = None
    reasons: list[ReasonEntry] | None = None
    metadata: dict[str, Any] | None = None
    curation: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSONL line: fields of the other stage are left out, not written as nulls."""
        return self.model_dump(mode="json", exclude_none=True)
