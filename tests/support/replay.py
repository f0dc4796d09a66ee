"""Replay mode of the scripted server: a run's calls answered from real conversations.

Word-list text proves the plumbing; quality gates must meet real text. `Replay` maps
each sample to one real conversation by its topic (`replay 12` is conversation 12;
any other topic by a stable hash) and answers turn by turn: the user simulator's
JSON (`UserReply`) carries the person's next message, the assistant gets the real
assistant's next turn, cut at `max_tokens` words with `finish_reason: length`. When
the conversation has no more turns, the person ends it. A regenerated turn gets the
same text again, as a deterministic model would: a bad real turn stays bad.

    with ScriptedOpenAIServer(responder=Replay.from_file("holdout.jsonl.gz")) as server:
        ...  # topics: [replay 0, replay 1, ...]
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The English prompt files' markers, and the Korean ones' (prompts/ko/).
_TOPIC = re.compile(
    r"(?:Topic of the conversation|The conversation is about|대화 주제): (.+?)\.?$", re.M
)
_NUMBERED = re.compile(r"^replay (\d+)$")
_TRANSCRIPT_TURN = re.compile(r"^(?:PERSON|ASSISTANT|사람|어시스턴트): ", re.MULTILINE)
_SO_FAR = re.compile(r"The conversation so far:|지금까지의 대화:")
END_MESSAGE = "Thanks, that answers my questions."
END_MESSAGE_KO = "감사합니다, 궁금한 게 다 풀렸어요."


@dataclass(frozen=True)
class Reply:
    """What a responder answers: the content, and why the model stopped."""

    content: str
    finish_reason: str = "stop"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _schema(payload: Mapping[str, Any]) -> str | None:
    fmt = payload.get("response_format")
    if isinstance(fmt, Mapping) and isinstance(fmt.get("json_schema"), Mapping):
        return str(fmt["json_schema"].get("name"))
    return None


def read_conversations(path: str | Path) -> list[list[dict[str, str]]]:
    """The user/assistant turns of each record of an OpenAI `messages` JSONL (.gz) file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                messages = json.loads(line)["messages"]
                out.append(
                    [
                        {"role": m["role"], "content": m["content"]}
                        for m in messages
                        if m["role"] in ("user", "assistant")
                    ]
                )
    return out


class Replay:
    """A `Responder` that plays real conversations back, one per topic."""

    def __init__(self, conversations: Sequence[list[dict[str, str]]]) -> None:
        if not conversations:
            raise ValueError("replay needs at least one conversation")
        self.conversations = list(conversations)

    @classmethod
    def from_file(cls, path: str | Path) -> Replay:
        """Replay the conversations of a `messages` JSONL file."""
        return cls(read_conversations(path))

    def conversation_of(self, topic: str) -> list[dict[str, str]]:
        """The conversation a topic plays: `replay N` is the Nth, others by hash."""
        numbered = _NUMBERED.match(topic.strip())
        if numbered:
            return self.conversations[int(numbered.group(1)) % len(self.conversations)]
        digest = int(hashlib.sha256(topic.encode()).hexdigest()[:8], 16)
        return self.conversations[digest % len(self.conversations)]

    def __call__(self, payload: dict[str, Any]) -> Reply | None:
        messages = payload.get("messages") or []
        if not messages:
            return None
        first = _text(messages[0].get("content"))
        found = _TOPIC.search(first)
        if found is None:
            return None  # not a dialogue call (a judge, an expander): the default answers
        convo = self.conversation_of(found.group(1).strip())
        if _schema(payload) == "UserReply":
            return self._user(convo, first)
        if messages[0].get("role") == "system" and _schema(payload) is None:
            return self._assistant(convo, messages, payload)
        return None

    def _user(self, convo: list[dict[str, str]], prompt: str) -> Reply:
        parts = _SO_FAR.split(prompt, maxsplit=1)
        done = len(_TRANSCRIPT_TURN.findall(parts[-1])) if len(parts) > 1 else 0
        users = [i for i, m in enumerate(convo) if m["role"] == "user" and i >= done]
        if not users:
            end = END_MESSAGE_KO if "지금까지의 대화:" in prompt else END_MESSAGE
            reply = {"message": end, "end_conversation": True}
            return Reply(json.dumps(reply, ensure_ascii=False))
        reply = {"message": convo[users[0]]["content"], "end_conversation": False}
        return Reply(json.dumps(reply, ensure_ascii=False))

    def _assistant(
        self, convo: list[dict[str, str]], messages: list[Any], payload: Mapping[str, Any]
    ) -> Reply:
        done = sum(1 for m in messages if m.get("role") in ("user", "assistant"))
        answers = [i for i, m in enumerate(convo) if m["role"] == "assistant" and i >= done]
        text = convo[answers[0]]["content"] if answers else "I hope that helps."
        limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
        words = text.split()
        if isinstance(limit, int) and 0 < limit < len(words):
            return Reply(" ".join(words[:limit]), "length")
        return Reply(text)
