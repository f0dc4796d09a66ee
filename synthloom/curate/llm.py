"""What the LLM-backed blocks share: outcomes, the judgement cache and error handling."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from agents.llm import classify_error, describe_error
from agents.structured import ModelOutputError
from prompts import PromptTemplate
from synthloom.core.errors import EndpointError
from synthloom.core.records import Reason, Usage
from synthloom.curate.base import Block
from synthloom.curate.cache import JudgementCache, fingerprint
from synthloom.curate.sample import Sample


@dataclass
class Outcome:
    """One LLM block's verdict on one sample; `keep=None` means unjudged."""

    keep: bool | None
    reason: Reason | None = None
    annotation: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    flags: list[str] = field(default_factory=list)


@dataclass
class Judged:
    """A judgement from the model or the cache."""

    result: dict[str, Any] | None
    usage: Usage
    cached: bool
    error: str | None = None


class RemoteCallError(Exception):
    """A judge call that failed on a Ray worker, classified there (`agents.llm.classify_error`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _error_of(exc: Exception) -> tuple[str, str]:
    """What the error means (fatal, transient, sample) and its one-line description."""
    if isinstance(exc, RemoteCallError):
        return exc.kind, exc.message
    return classify_error(exc), describe_error(exc)


def unjudged(error: str | None) -> Outcome:
    """No verdict for this sample (the judge failed or answered out of schema)."""
    text = error or "no verdict"
    return Outcome(None, Reason("unjudged", text.removeprefix("unjudged: ")))


def prompt_fingerprint(prompt: PromptTemplate, output: type[BaseModel]) -> str:
    """What, besides the model, decides a judgement: the template and the output schema."""
    return fingerprint(prompt.source, json.dumps(output.model_json_schema(), sort_keys=True))


class LLMBlock(Block):
    """An async block that asks a judge model, through the cache."""

    def __init__(self, cache: JudgementCache) -> None:
        self.cache = cache

    async def ask(
        self,
        sample: Sample,
        judge: str,
        prompt: str,
        call: Callable[[], Awaitable[tuple[BaseModel, Usage]]],
        *,
        model: str | None = None,
    ) -> Judged:
        """The cached judgement, or a fresh one (cached on success).

        An endpoint error that will not go away (401/403/404) raises `EndpointError`;
        any other failure leaves the sample unjudged with the error as its reason.
        """
        key = JudgementCache.key(self.name, judge, prompt, sample.id, sample.content_hash)
        hit = self.cache.get(key)
        if hit is not None:
            return Judged(hit["result"], Usage(), cached=True)
        try:
            verdict, usage = await call()
        except ModelOutputError as exc:
            return Judged(None, exc.usage, cached=False, error=exc.reason)
        except Exception as exc:  # noqa: BLE001 - classified: stop, or leave unjudged
            kind, text = _error_of(exc)
            if kind == "fatal":
                raise EndpointError(f"judge {judge}: {text}") from None
            return Judged(None, Usage(), cached=False, error=f"unjudged: {text}")
        result = verdict.model_dump(mode="json")
        self.cache.put(
            key,
            {
                "block": self.name,
                "id": sample.id,
                "judge": judge,
                "model": model or judge,
                "result": result,
                "usage": usage.as_dict(),
            },
        )
        return Judged(result, usage, cached=False)

    @abstractmethod
    async def judge(self, sample: Sample) -> Outcome:
        """Keep, reject or leave the sample unjudged, with what it found."""

    def summary(self) -> dict[str, Any] | None:
        """Dataset-level results for `curation.json` (e.g. agreement); none by default."""
        return None
