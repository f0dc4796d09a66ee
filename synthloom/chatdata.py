"""Read any chat dataset: OpenAI `messages` JSONL, ShareGPT JSONL, a Hugging Face folder.

`synthloom checks eval`, `curate` and `report` take data users already have, not only
run folders. Files may be gzip-compressed (`.gz`) or a JSON array instead of JSON lines.
A record may carry failure labels, per message (`"label": "loop"`) or per record
(`"labels": [{"index": 3, "kind": "loop"}]`, the index counting `messages`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from synthloom.core import names
from synthloom.core.errors import ChatDataError

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "assistant": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}
_LABEL_KEYS = ("label", "failure", "kind")


@dataclass(frozen=True)
class ChatRecord:
    """One conversation: its messages, failure labels by message index, and metadata."""

    messages: list[dict[str, str]]
    labels: dict[int, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    @property
    def id(self) -> str:
        """The record's own id, or where it stands in its file."""
        for key in ("id", "source_id"):
            value = self.metadata.get(key)
            if value:
                return str(value)
        return self.where


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _messages_of(raw: dict[str, Any], where: str) -> tuple[list[dict[str, str]], dict[int, str]]:
    labels: dict[int, str] = {}
    if isinstance(raw.get("messages"), list):
        items = raw["messages"]
        role_key, text_key, roles = "role", "content", None
    elif isinstance(raw.get("conversations"), list):
        items = raw["conversations"]
        role_key, text_key, roles = "from", "value", _SHAREGPT_ROLES
    else:
        raise ChatDataError(f"{where}: no `messages` (OpenAI) or `conversations` (ShareGPT) list")
    messages: list[dict[str, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ChatDataError(f"{where}: message {index + 1} is not an object")
        role = str(item.get(role_key, ""))
        role = roles.get(role.lower(), role) if roles else role
        if role not in ("system", "user", "assistant"):
            raise ChatDataError(
                f"{where}: message {index + 1} has role {item.get(role_key)!r} "
                "(expected system, user or assistant)"
            )
        content = item.get(text_key)
        if content is None:
            content = ""
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        messages.append({"role": role, "content": content})
        for key in _LABEL_KEYS:
            if item.get(key):
                labels[index] = str(item[key])
                break
    for entry in raw.get("labels") or []:
        if isinstance(entry, dict) and "index" in entry and "kind" in entry:
            labels[int(entry["index"])] = str(entry["kind"])
    return messages, labels


def record_of(raw: Any, where: str) -> ChatRecord:
    """One dataset row as a `ChatRecord` (errors name `where`)."""
    if not isinstance(raw, dict):
        raise ChatDataError(f"{where}: a record must be a JSON object")
    messages, labels = _messages_of(raw, where)
    found = raw.get("metadata")
    metadata: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    if "id" in raw and "id" not in metadata:
        metadata["id"] = raw["id"]
    return ChatRecord(messages, labels, metadata, where)


def _json_lines(path: Path) -> Iterator[ChatRecord]:
    with _open(path) as handle:
        first = ""
        for line in handle:
            if line.strip():
                first = line.lstrip()
                break
        if first.startswith("["):
            rest = handle.read()
            try:
                rows = json.loads(first + rest)
            except json.JSONDecodeError as exc:
                raise ChatDataError(f"{path}: not valid JSON: {exc}") from None
            for number, raw in enumerate(rows, 1):
                yield record_of(raw, f"{path} record {number}")
            return
        number = 0
        for number, line in enumerate([first, *handle], 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ChatDataError(f"{path} line {number}: not valid JSON: {exc.msg}") from None
            yield record_of(raw, f"{path} line {number}")


def _hf_folder(path: Path) -> Iterator[ChatRecord]:
    try:
        from datasets import load_from_disk
    except ImportError:
        raise ChatDataError(
            f"{path}: a Hugging Face datasets folder needs the `hf` extra "
            "(pip install 'synthloom[hf]')"
        ) from None
    data = load_from_disk(str(path))
    if hasattr(data, "keys"):  # a DatasetDict: every split, in order
        splits = [(name, data[name]) for name in data]
    else:
        splits = [("", data)]
    for name, split in splits:
        for number, row in enumerate(split, 1):
            yield record_of(dict(row), f"{path}{'/' + name if name else ''} row {number}")


def read_chats(path: str | Path) -> Iterator[ChatRecord]:
    """Every conversation in `path` (a JSONL / JSON / .gz file, or a `datasets` folder)."""
    path = Path(path)
    if not path.exists():
        raise ChatDataError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return _hf_folder(path)
        if (path / names.SAMPLES).exists():
            return _json_lines(path / names.SAMPLES)
        raise ChatDataError(
            f"{path}: a folder must be a Hugging Face `datasets` folder (save_to_disk) or a run"
        )
    return _json_lines(path)


def turns_of(record: ChatRecord) -> tuple[list[dict[str, str]], list[int], str]:
    """The dialogue turns (system messages set aside), their message indexes, the system text."""
    turns: list[dict[str, str]] = []
    indexes: list[int] = []
    system = []
    for index, message in enumerate(record.messages):
        if message["role"] == "system":
            system.append(message["content"])
            continue
        turns.append(message)
        indexes.append(index)
    return turns, indexes, "\n".join(system)
