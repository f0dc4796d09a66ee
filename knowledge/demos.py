"""In-context demos: exemplar dialogues chosen per sample for format and depth.

A demo collection is filled from JSONL chat datasets (OpenAI `messages`, ShareGPT
`conversations`, or synthloom's own output). Per sample, demos are chosen by
similarity to the sample's concept with MMR, plus a small seeded perturbation: the
choice is deterministic for a plan, yet varies between plans, so no one demo sits
in most prompts and gets copied into the dataset.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from langchain_core.embeddings import Embeddings

from knowledge.embeddings import as_array, query_array
from knowledge.ingest import Skipped, source_key
from knowledge.retrieval import mmr
from knowledge.store import KnowledgeStore
from synthloom.core.errors import DemoFileError

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
# What a demo is found by: its topic and what the person asks, not the answers.
_INDEX_CHARS = 1000


@dataclass(frozen=True)
class Demo:
    """An exemplar dialogue in OpenAI chat form, with a content-hash id."""

    id: str
    messages: list[dict[str, str]]
    topic: str = ""
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-native form, for graph state and prompts."""
        return asdict(self)

    def index_text(self) -> str:
        """The text embedded to find this demo."""
        asked = " ".join(m["content"] for m in self.messages if m["role"] == "user")
        return f"{self.topic}\n{asked}".strip()[:_INDEX_CHARS]


@dataclass
class DemoSummary:
    """What `add_demos` did."""

    read: int = 0
    added: int = 0
    unchanged: int = 0
    total: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def demo_id(messages: list[dict[str, str]]) -> str:
    """Content hash of the turns, so adding a file twice adds nothing."""
    blob = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def parse_demo(record: Any) -> Demo:
    """One chat record as a demo; raises ValueError saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    if isinstance(record.get("messages"), list):
        turns = [_turn(m, "role", "content", None) for m in record["messages"]]
    elif isinstance(record.get("conversations"), list):
        turns = [_turn(m, "from", "value", _SHAREGPT_ROLES) for m in record["conversations"]]
    else:
        raise ValueError("expected 'messages' (OpenAI chat) or 'conversations' (ShareGPT)")
    # System prompts belong to the source dataset, not to the exemplar.
    messages = [t for t in turns if t["role"] != "system"]
    roles = {m["role"] for m in messages}
    if roles != {"user", "assistant"}:
        raise ValueError("a demo needs at least one user and one assistant turn")
    meta = record.get("metadata")
    topic = record.get("topic") or (meta.get("topic") if isinstance(meta, dict) else "") or ""
    return Demo(id=demo_id(messages), messages=messages, topic=str(topic))


def _turn(raw: Any, role_key: str, text_key: str, roles: dict[str, str] | None) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError("each turn must be an object")
    role = raw.get(role_key)
    text = raw.get(text_key)
    if roles is not None:
        role = roles.get(str(role), "system" if role == "system" else None)
    if role not in ("system", "user", "assistant"):
        raise ValueError(f"unknown role {raw.get(role_key)!r}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a {role} turn has no text")
    return {"role": str(role), "content": text.strip()}


def read_demos(path: Path) -> tuple[list[tuple[int, Demo]], list[Skipped]]:
    """Demos of a JSONL file with their line numbers, and the lines that were not usable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DemoFileError(f"{path}: demos file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DemoFileError(f"{path}: cannot read demos file: {exc}") from None
    demos: list[tuple[int, Demo]] = []
    skipped: list[Skipped] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            demos.append((number, parse_demo(json.loads(line))))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            skipped.append(Skipped(f"{path}:{number}", str(exc)))
    if not demos:
        why = f" ({skipped[0].source}: {skipped[0].reason})" if skipped else ""
        raise DemoFileError(f"{path}: no usable dialogue in the file{why}")
    return demos, skipped


def add_demos(store: KnowledgeStore, path: Path) -> DemoSummary:
    """Add a JSONL file's dialogues to the demo collection (already present ones are kept)."""
    demos, skipped = read_demos(path)
    summary = DemoSummary(read=len(demos), skipped=skipped)
    collection = store.demos
    unique: dict[str, tuple[int, Demo]] = {}
    for number, demo in demos:
        unique.setdefault(demo.id, (number, demo))
    have = set(collection.get(ids=list(unique), include=[])["ids"])
    todo = [(n, d) for i, (n, d) in unique.items() if i not in have]
    summary.unchanged = len(unique) - len(todo)
    batch = store.max_batch()
    source = source_key(path)
    for start in range(0, len(todo), batch):
        group = todo[start : start + batch]
        collection.upsert(
            ids=[d.id for _, d in group],
            embeddings=as_array(store.embeddings, [d.index_text() for _, d in group]),
            documents=[json.dumps(d.messages, ensure_ascii=False) for _, d in group],
            metadatas=[
                {"source": source, "line": n, "topic": d.topic, "turns": len(d.messages)}
                for n, d in group
            ],
        )
    summary.added = len(todo)
    summary.total = collection.count()
    return summary


def _seeded(seed: str | int, size: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    digest = hashlib.sha256(str(seed).encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    return rng.gumbel(size=size).astype(np.float32)


class DemoSelector:
    """Chooses k demos per sample: similar to its concept, different from each other."""

    def __init__(
        self,
        collection: Collection,
        embeddings: Embeddings,
        *,
        fetch_k: int = 16,
        mmr_lambda: float = 0.75,
        spread: float = 0.1,
    ) -> None:
        self.collection = collection
        self.embeddings = embeddings
        self.fetch_k = fetch_k
        self.mmr_lambda = mmr_lambda
        self.spread = spread

    def select(self, query: str, k: int, *, seed: str | int | None = None) -> list[Demo]:
        """`k` demos for a sample about `query`; a seed (e.g. the plan id) varies the choice."""
        if k <= 0:
            return []
        result = self.collection.query(
            query_embeddings=query_array(self.embeddings, query)[None, :],
            n_results=max(self.fetch_k, k),
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        ids = result["ids"][0]
        if not ids:
            return []
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        scores = [1.0 - float(d) for d in (result["distances"] or [[]])[0]]
        vectors = np.asarray((result["embeddings"] or [[]])[0], dtype=np.float32)
        noise = None if seed is None else self.spread * _seeded(seed, len(ids))
        picked = mmr(scores, vectors, k, lambda_mult=self.mmr_lambda, noise=noise)
        return [
            Demo(
                id=ids[i],
                messages=json.loads(docs[i] or "[]"),
                topic=str((metas[i] or {}).get("topic", "")),
                score=round(scores[i], 6),
            )
            for i in picked
        ]

    async def aselect(self, query: str, k: int, *, seed: str | int | None = None) -> list[Demo]:
        """`select` off the event loop."""
        return await asyncio.to_thread(self.select, query, k, seed=seed)

    def count(self) -> int:
        """Demos in the collection."""
        return int(self.collection.count())
