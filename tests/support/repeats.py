"""Repeat mode of the scripted server: a share of its conversations are played again.

Models at scale repeat themselves: the same opening, then the same conversation, for
different prompts. `RepeatMemory` makes the scripted server do that. A request is an
*opening* when it asks for one of `schemas` (the user simulator's `UserReply`, the
question writer's `Question`) and quotes no text the server sent before as a turn of
the conversation; a share of openings, chosen by a hash of the request, get an earlier
opening back verbatim. Every other request that quotes a served turn continues the
conversation that turn belongs to: the reply served after that turn the first time is
served again, so a repeated opening replays the whole earlier dialogue.

A turn counts as quoted when it is the whole content of a user or assistant message
(the assistant's history) or a whole line after a speaker label such as `PERSON:`
(the user simulator's transcript). Lists of "already covered" openings (`- …` lines)
and feedback sentences that mention a turn are not quotes, so a request that shows the
model what to avoid is still an opening.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_LABELLED = re.compile(r"^[A-Z][A-Z ]{1,20}: (?P<text>.+)$")
_MIN_QUOTE_CHARS = 12


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _strings(value: Any) -> Iterator[str]:
    """String values of a JSON answer (what later prompts quote of it)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _schema_name(payload: Mapping[str, Any]) -> str:
    fmt = payload.get("response_format")
    if isinstance(fmt, Mapping) and isinstance(fmt.get("json_schema"), Mapping):
        return str(fmt["json_schema"].get("name", "json"))
    return "text"


@dataclass
class RepeatStats:
    """What the repeat mode did (a copy, safe to keep)."""

    openings: int = 0
    repeated: int = 0
    """Openings answered with an earlier opening, verbatim."""
    replayed: int = 0
    """Continuation requests answered with what followed the same turn before."""
    repeated_texts: list[str] = field(default_factory=list)
    """The string values of each repeated opening (e.g. the person's message)."""


class RepeatMemory:
    """Serves a share of openings again and replays the conversations that follow them."""

    def __init__(self, share: float, schemas: tuple[str, ...] = ("UserReply", "Question")) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("repeat share must be within 0..1")
        self.share = share
        self.schemas = schemas
        self._lock = threading.Lock()
        self._served_texts: set[str] = set()
        self._follow: dict[tuple[str, str], str] = {}
        self._openings: dict[str, list[str]] = {}
        self._stats = RepeatStats()

    @property
    def stats(self) -> RepeatStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return RepeatStats(s.openings, s.repeated, s.replayed, list(s.repeated_texts))

    def _last_quoted(self, messages: list[Any]) -> str | None:
        # The latest turn is the last one quoted: messages and transcript lines are in
        # conversation order (a global "most recently served" would mix conversations).
        last: str | None = None
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            text = _text_of(message.get("content"))
            candidates = [text] if message.get("role") in ("user", "assistant") else []
            for line in text.splitlines():
                match = _LABELLED.match(line.strip())
                if match:
                    candidates.append(match.group("text").strip())
            for candidate in candidates:
                if candidate in self._served_texts:
                    last = candidate
        return last

    def serve(self, payload: Mapping[str, Any], content: str) -> str:
        """The content to send for this request: a repeat, a replay, or `content` itself."""
        messages = payload.get("messages")
        kind = _schema_name(payload)
        with self._lock:
            last = self._last_quoted(messages if isinstance(messages, list) else [])
            if last is None and kind in self.schemas:
                content = self._opening(payload, kind, content)
            elif last is not None:
                replay = self._follow.get((last, kind))
                if replay is None:
                    self._follow[(last, kind)] = content
                else:
                    content = replay
                    self._stats.replayed += 1
            self._remember(content)
        return content

    def _opening(self, payload: Mapping[str, Any], kind: str, content: str) -> str:
        self._stats.openings += 1
        earlier = self._openings.setdefault(kind, [])
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if earlier and draw < self.share:
            repeat = earlier[int.from_bytes(digest[8:16], "big") % len(earlier)]
            self._stats.repeated += 1
            self._stats.repeated_texts.append(" ".join(self._quotable(repeat)))
            return repeat
        earlier.append(content)
        return content

    def _quotable(self, content: str) -> list[str]:
        try:
            parsed = json.loads(content)
        except ValueError:
            return [content]
        return list(_strings(parsed)) if not isinstance(parsed, str | int | float) else [content]

    def _remember(self, content: str) -> None:
        for text in self._quotable(content):
            text = text.strip()
            if len(text) >= _MIN_QUOTE_CHARS:
                self._served_texts.add(text)
