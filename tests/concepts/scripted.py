"""A scripted expander model and a small honest embedder, for concept-tree tests.

`ScriptedChatModel` is langchain-core's `GenericFakeChatModel` answering through a
responder function of the prompt, so answers are deterministic whatever order
concurrent calls arrive in. `taxonomy_answer` invents pseudo-word subtopics from a
hash of the parent's path: the same path always gets the same children.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from knowledge.concepts.screen import GENERIC_WORDS

Responder = Callable[[list[BaseMessage], dict[str, Any]], "str | AIMessage"]

_PARENT = re.compile(r"^Parent topic: (?P<path>.+)$", re.MULTILINE)
_COUNT = re.compile(r"^Propose (?P<n>\d+) subtopics", re.MULTILINE)
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
# Two-syllable made-up words, minus the few that are real words the screen treats specially.
_VOCABULARY = [
    a + b
    for a in _SYLLABLES
    for b in _SYLLABLES
    if a + b not in GENERIC_WORDS | {"more", "note", "some", "male"}
]


class ScriptedChatModel(GenericFakeChatModel):
    """Answers each call with `responder(messages, call_kwargs)`; counts the calls."""

    responder: Any = None
    delay: float = 0.0
    calls: int = 0
    prompts: list[list[BaseMessage]] = []

    def __init__(self, responder: Responder, **kwargs: Any) -> None:
        super().__init__(messages=iter(()), responder=responder, **kwargs)
        self.prompts = []

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls += 1
        self.prompts.append(list(messages))
        reply = self.responder(messages, kwargs)
        message = reply if isinstance(reply, AIMessage) else AIMessage(reply)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._generate(messages, stop, **kwargs)


def prompt_of(messages: list[BaseMessage]) -> str:
    return str(messages[0].content)


def path_in(prompt: str) -> list[str]:
    match = _PARENT.search(prompt)
    assert match, "not an expander prompt"
    return match.group("path").split(" > ")


def parent_path(messages: list[BaseMessage]) -> list[str]:
    return path_in(prompt_of(messages))


def asked_count(prompt: str) -> int:
    match = _COUNT.search(prompt)
    assert match
    return int(match.group("n"))


def pseudo_words(seed: str, count: int) -> list[str]:
    """`count` distinct made-up words, deterministic in `seed` (cheap: hash bytes pick them)."""
    words: list[str] = []
    block = 0
    while len(words) < count:
        digest = hashlib.sha256(f"{seed}#{block}".encode()).digest()
        for i in range(0, len(digest), 2):
            word = _VOCABULARY[int.from_bytes(digest[i : i + 2], "big") % len(_VOCABULARY)]
            if word not in words:
                words.append(word)
            if len(words) == count:
                break
        block += 1
    return words


def children_json(names: Iterable[str], parent: str) -> str:
    return json.dumps(
        {"children": [{"name": n, "description": f"{n} within {parent}"} for n in names]}
    )


def taxonomy_for(prompt: str) -> str:
    """Distinct two-word children for the parent in the prompt (siblings share no word)."""
    path = path_in(prompt)
    words = pseudo_words(" > ".join(path), 2 * asked_count(prompt))
    names = [f"{a} {b}".capitalize() for a, b in zip(words[::2], words[1::2], strict=True)]
    return children_json(names, path[-1])


def taxonomy_answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
    """`taxonomy_for` as a `ScriptedChatModel` responder."""
    return taxonomy_for(prompt_of(messages))


class HashingEmbeddings(Embeddings):
    """Character-trigram hashing vectors: honest lexical similarity, no model download.

    Misspellings and inflections land close ('hypertension' / 'hypertenson'); synonyms
    with no shared letters ('heart attack' / 'myocardial infarction') do not.
    """

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim
        self.calls = 0

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        padded = f"  {text.casefold()}  "
        for i in range(len(padded) - 2):
            vector[zlib.crc32(padded[i : i + 3].encode()) % self.dim] += 1.0
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
