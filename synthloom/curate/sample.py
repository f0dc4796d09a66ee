"""A read-only view of one generated sample, with the text each block looks at."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from synthloom.core.records import Turn


def _text_of_item(item: Any) -> str:
    """The text of a source chunk or demo: a string, or a dict with text/content/messages."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "content", "page_content", "document"):
            value = item.get(key)
            if isinstance(value, str):
                return value
        messages = item.get("messages")
        if isinstance(messages, list):
            return "\n".join(
                str(m.get("content", ""))
                for m in messages
                if isinstance(m, dict) and m.get("role") != "system"
            )
    return ""


def _id_of_item(item: Any, position: int) -> str:
    if isinstance(item, dict) and item.get("id") is not None:
        return str(item["id"])
    return f"#{position + 1}"


@dataclass(frozen=True)
class Reference:
    """A demo or retrieved chunk the sample was generated with."""

    id: str
    text: str


@dataclass(frozen=True)
class Sample:
    """One accepted record of `samples.jsonl`: `{"messages": [...], "metadata": {...}}`."""

    record: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        """The plan-derived sample id."""
        return str(self.metadata.get("id"))

    @property
    def index(self) -> int:
        """The plan index (generation order)."""
        return int(self.metadata.get("index", 0))

    @property
    def metadata(self) -> dict[str, Any]:
        """The record's metadata."""
        meta = self.record.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def messages(self) -> list[Turn]:
        """All messages, the system prompt included."""
        messages = self.record.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def topic(self) -> str:
        """The planned topic."""
        return str(self.metadata.get("topic", ""))

    @property
    def conditions(self) -> dict[str, str]:
        """The planned condition values."""
        conditions = self.metadata.get("conditions")
        return (
            {str(k): str(v) for k, v in conditions.items()} if isinstance(conditions, dict) else {}
        )

    @cached_property
    def turns(self) -> list[Turn]:
        """The dialogue proper: user and assistant turns, no system prompt."""
        return [m for m in self.messages if m.get("role") != "system"]

    def text(self, part: str = "dialogue") -> str:
        """Text of `dialogue` (all turns), `user`, `assistant` or `first_user` turns."""
        if part == "first_user":
            first = next((t for t in self.turns if t.get("role") == "user"), None)
            return str(first.get("content", "")) if first else ""
        roles = {"dialogue": ("user", "assistant"), "user": ("user",), "assistant": ("assistant",)}
        wanted = roles.get(part, ("user", "assistant"))
        return "\n".join(str(t.get("content", "")) for t in self.turns if t.get("role") in wanted)

    @cached_property
    def content_hash(self) -> str:
        """Hash of the messages: a cached judgement is reused only for the same content."""
        blob = json.dumps(self.messages, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def _references(self, key: str) -> list[Reference]:
        items = self.metadata.get(key)
        if not isinstance(items, list):
            return []
        refs = [
            Reference(_id_of_item(item, i), _text_of_item(item)) for i, item in enumerate(items)
        ]
        return [r for r in refs if r.text.strip()]

    @cached_property
    def sources(self) -> list[Reference]:
        """Retrieved knowledge chunks (`metadata.sources`)."""
        return self._references("sources")

    @cached_property
    def demos(self) -> list[Reference]:
        """In-context demos (`metadata.demos`)."""
        return self._references("demos")
