"""Condition values drawn from knowledge: the LLM lists them, a seeded draw picks one.

For a concept, the retrieved chunks are shown to the model with short labels (S1,
S2, …) and it lists values per attribute (e.g. `symptom`, `medication`) into a
pydantic schema built from the attribute names, each value with the label of the
passage that states it. The lists are cached per concept in the knowledge base
folder, so a dataset of 10,000 samples over 50 concepts asks the model 50 times;
each sample then draws its values deterministically from its plan id.

An attribute for which the model cites no valid passage is left empty: the answer is
kept for the rest of this run (so the concept is asked once), named in `missing`, and
never written to the cache, so the next run asks again rather than losing it for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from knowledge.retrieval import Chunk
from prompts import PromptTemplate, load_prompt
from synthloom.core.records import Usage
from synthloom.core.store import write_json_atomic

CACHE_FILE = "conditions.json"
CACHE_FORMAT = "synthloom-knowledge-conditions"
_log = logging.getLogger(__name__)


class ConditionExtractionError(Exception):
    """The model's answer stayed unusable after the re-ask budget."""

    def __init__(self, reason: str, usage: Usage) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage


class ExtractedValue(BaseModel):
    """One value stated in a passage."""

    value: str = Field(
        min_length=1, max_length=160, description="A short phrase in the passages' own terms."
    )
    source: str = Field(description="The label of the passage that states it, e.g. S2.")


@dataclass(frozen=True)
class ConditionValue:
    """A value and the id of the chunk it comes from."""

    value: str
    source: str


@dataclass(frozen=True)
class Extraction:
    """Values per attribute for one concept, and what obtaining them cost."""

    values: dict[str, list[ConditionValue]]
    usage: Usage
    cached: bool
    missing: tuple[str, ...] = ()
    """Attributes with no value backed by a valid passage (not cached; asked next run)."""


def condition_schema(attributes: Mapping[str, str]) -> type[BaseModel]:
    """The answer schema: one list of values per attribute."""
    fields: dict[str, Any] = {
        name: (
            list[ExtractedValue],
            Field(description=description or f"Values of {name.replace('_', ' ')}."),
        )
        for name, description in attributes.items()
    }
    model: type[BaseModel] = create_model(
        "KnowledgeConditions", __config__=ConfigDict(extra="ignore"), **fields
    )
    return model


@cache
def extractor_prompt() -> PromptTemplate:
    """The packaged prompt of the condition extractor."""
    return load_prompt("condition_extractor")


def _text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)


def _usage(message: BaseMessage) -> Usage:
    meta = getattr(message, "usage_metadata", None) or {}
    return Usage(
        calls=1,
        prompt_tokens=int(meta.get("input_tokens", 0)),
        completion_tokens=int(meta.get("output_tokens", 0)),
    )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "answer"
    return f"{where}: {err['msg']}"


class ConditionCache:
    """Extracted values per concept, as one JSON file rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                ok = isinstance(data, dict) and data.get("format") == CACHE_FORMAT
                self._entries = dict(data["entries"]) if ok else {}
            except (OSError, ValueError, KeyError, TypeError):
                # A missing or damaged cache only costs a re-extraction.
                self._entries = {}
        return self._entries

    def get(self, key: str) -> dict[str, list[ConditionValue]] | None:
        """Cached values for a key, or None."""
        entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        return {
            name: [ConditionValue(**v) for v in values]
            for name, values in entry.get("values", {}).items()
        }

    def put(self, key: str, concept: str, values: Mapping[str, list[ConditionValue]]) -> None:
        """Store values and write the file."""
        entries = self._load()
        entries[key] = {
            "concept": concept,
            "values": {name: [asdict(v) for v in vs] for name, vs in values.items()},
        }
        write_json_atomic(self.path, {"format": CACHE_FORMAT, "entries": entries})


def cache_key(
    concept: str, attributes: Mapping[str, str], chunks: Sequence[Chunk], per_attribute: int
) -> str:
    """Same concept, attributes and passages: same values."""
    blob = json.dumps(
        [concept, dict(attributes), sorted(c.id for c in chunks), per_attribute], sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


class ConditionExtractor:
    """Extracts knowledge-drawn condition values once per concept and caches them."""

    def __init__(
        self,
        model: BaseChatModel,
        attributes: Mapping[str, str],
        *,
        cache_path: Path,
        per_attribute: int = 6,
        max_reasks: int = 2,
    ) -> None:
        self.model = model
        self.attributes = dict(attributes)
        self.cache = ConditionCache(cache_path)
        self.per_attribute = per_attribute
        self.max_reasks = max_reasks
        self.schema = condition_schema(self.attributes)
        self._locks: dict[str, asyncio.Lock] = {}
        self._uncached: dict[str, dict[str, list[ConditionValue]]] = {}
        self.missing: dict[str, tuple[str, ...]] = {}
        """Concept → attributes this run found no cited value for (what to warn about)."""

    async def extract(self, concept: str, chunks: Sequence[Chunk]) -> Extraction:
        """Values per attribute for a concept (from the cache when it has them)."""
        if not self.attributes:
            return Extraction({}, Usage(), cached=True)
        key = cache_key(concept, self.attributes, chunks, self.per_attribute)
        # Samples of one concept run concurrently: only the first asks the model.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self.cache.get(key) or self._uncached.get(key)
            if cached is not None:
                return Extraction(cached, Usage(), cached=True, missing=_empty(cached))
            values, usage = await self._ask(concept, chunks)
            missing = _empty(values)
            if missing:
                self._uncached[key] = values
                self.missing[concept] = missing
                _log.warning(
                    "condition extractor cited no valid passage for %s of %r; "
                    "not cached, asked again next run",
                    ", ".join(missing),
                    concept,
                )
            else:
                self.cache.put(key, concept, values)
            return Extraction(values, usage, cached=False, missing=missing)

    async def _ask(
        self, concept: str, chunks: Sequence[Chunk]
    ) -> tuple[dict[str, list[ConditionValue]], Usage]:
        labels = {f"S{i}": chunk.id for i, chunk in enumerate(chunks, start=1)}
        text = extractor_prompt().render(
            concept=concept,
            attributes=self.attributes,
            per_attribute=self.per_attribute,
            passages=[
                {"label": lab, "text": c.text} for lab, c in zip(labels, chunks, strict=True)
            ],
        )
        bound = self.model.bind(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "KnowledgeConditions",
                    "schema": self.schema.model_json_schema(),
                },
            }
        )
        messages: list[BaseMessage] = [HumanMessage(text)]
        usage = Usage()
        problem = ""
        for _ in range(self.max_reasks + 1):
            answer = await bound.ainvoke(messages)
            usage += _usage(answer)
            try:
                parsed = self.schema.model_validate_json(_text_of(answer))
            except ValidationError as exc:
                problem = _first_error(exc)
            else:
                return self._values(parsed, labels), usage
            messages = [
                *messages,
                AIMessage(_text_of(answer)),
                HumanMessage(
                    f"That answer was not valid JSON for the schema ({problem}). Reply with only "
                    'the JSON object, e.g. {"attribute": [{"value": "...", "source": "S1"}]}.'
                ),
            ]
        raise ConditionExtractionError(
            f"condition extractor gave malformed JSON {self.max_reasks + 1} times: {problem}",
            usage,
        )

    def _values(
        self, parsed: BaseModel, labels: Mapping[str, str]
    ) -> dict[str, list[ConditionValue]]:
        out: dict[str, list[ConditionValue]] = {}
        for name in self.attributes:
            seen: set[str] = set()
            values: list[ConditionValue] = []
            for item in getattr(parsed, name):
                value = " ".join(item.value.split())
                source = labels.get(item.source.strip().strip("[]"))
                # A value without a real passage behind it would be an invention.
                if source is None or value.casefold() in seen:
                    continue
                seen.add(value.casefold())
                values.append(ConditionValue(value, source))
            out[name] = values[: self.per_attribute]
        return out


def _empty(values: Mapping[str, Sequence[ConditionValue]]) -> tuple[str, ...]:
    return tuple(name for name, found in values.items() if not found)


async def extract_condition_values(
    model: BaseChatModel,
    concept: str,
    chunks: Sequence[Chunk],
    attributes: Mapping[str, str] | Sequence[str],
    *,
    kb_path: Path,
    per_attribute: int = 6,
) -> Extraction:
    """One-shot form of `ConditionExtractor.extract`, cached in `kb_path/conditions.json`."""
    named = dict(attributes) if isinstance(attributes, Mapping) else dict.fromkeys(attributes, "")
    extractor = ConditionExtractor(
        model, named, cache_path=Path(kb_path) / CACHE_FILE, per_attribute=per_attribute
    )
    return await extractor.extract(concept, chunks)


def draw_conditions(
    values: Mapping[str, Sequence[ConditionValue]], seed: str
) -> tuple[dict[str, str], list[str]]:
    """One value per attribute, drawn deterministically from `seed` (e.g. the plan id).

    Returns the chosen values and the ids of the chunks they come from; attributes
    the knowledge says nothing about are left out rather than invented.
    """
    chosen: dict[str, str] = {}
    sources: list[str] = []
    for name in sorted(values):
        options = values[name]
        if not options:
            continue
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        pick = random.Random(digest).choice(list(options))
        chosen[name] = pick.value
        if pick.source not in sources:
            sources.append(pick.source)
    return chosen, sources
