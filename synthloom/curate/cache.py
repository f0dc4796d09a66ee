"""Judgements cached per sample in an append-only JSONL, so a re-run never re-judges.

A key names the block, the judge model, the prompt and output schema, and the
sample's id and content: change any of them and the sample is judged again.
Thresholds are not in the key; a re-run with new thresholds re-decides from the
cached judgement for free. Only valid judgements are cached: an unjudged sample
is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from synthloom.core.errors import RunDirError
from synthloom.core.store import JsonlAppender


def fingerprint(*parts: str) -> str:
    """A short stable hash of prompt text, schema and the like."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


class JudgementCache:
    """Key → cached judgement record, backed by `judgements.jsonl`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, dict[str, Any]] = {}
        self._writer: JsonlAppender | None = None
        if path.exists():
            with open(path, "rb") as handle:
                for number, raw in enumerate(handle, 1):
                    if not raw.endswith(b"\n"):
                        break  # a torn last line from a killed run
                    if not raw.strip():
                        continue
                    try:
                        record = json.loads(raw)
                    except json.JSONDecodeError:
                        raise RunDirError(
                            f"{path}:{number}: invalid JSON in the judge cache"
                        ) from None
                    self._records[str(record.get("key"))] = record

    def __len__(self) -> int:
        return len(self._records)

    @staticmethod
    def key(block: str, judge: str, prompt: str, sample_id: str, content: str) -> str:
        """The cache key of one judgement."""
        return fingerprint(block, judge, prompt, sample_id, content)

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached record, if any."""
        return self._records.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Append a judgement (written to disk before this returns)."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = JsonlAppender(self.path)
        full = {"key": key, **record}
        self._writer.append(full)
        self._records[key] = full

    def records(self) -> list[dict[str, Any]]:
        """Every cached judgement (the latest per key)."""
        return list(self._records.values())

    def close(self) -> None:
        """Flush and close the file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
