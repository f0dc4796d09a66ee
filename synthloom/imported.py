"""Bring a chat dataset a user already has into a folder that `curate` and `report` read.

`synthloom curate FILE` and `synthloom report FILE` take OpenAI `messages` or ShareGPT
JSONL, a JSON array or a Hugging Face `datasets` folder, not only run folders. The
data is written once into a folder shaped like a run's (`samples.jsonl`, `spec.json`,
`run.json`), each conversation with an id from its content and position, so curation
keeps its ledger (requested = kept + rejected) and re-running is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from synthloom.chatdata import read_chats
from synthloom.core import names
from synthloom.core.errors import ChatDataError
from synthloom.core.store import write_json_atomic as atomic_write_json
from synthloom.rundir import RunDir, now_iso

SOURCE_FILE = names.IMPORTED


def is_run_folder(path: Path) -> bool:
    """Whether `path` is a synthloom run folder (it has the run's spec copy)."""
    return path.is_dir() and (path / RunDir.SPEC).is_file()


def default_folder(path: Path) -> Path:
    """Where a dataset's curation folder goes by default: beside it, `NAME.synthloom`."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return path.parent / f"{name}.synthloom"


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def import_dataset(path: Path, out: Path) -> tuple[Path, int]:
    """Write `path`'s conversations into the run-shaped folder `out`; (folder, count).

    An `out` already made from the same, unchanged file is reused as it is, so the
    curation and judge caches in it carry over.
    """
    if not path.exists():
        raise ChatDataError(f"{path}: no such file or folder")
    marker = out / SOURCE_FILE
    if marker.is_file():
        known = json.loads(marker.read_text(encoding="utf-8"))
        if known.get("fingerprint") == _fingerprint(path):
            return out, int(known["conversations"])
        raise ChatDataError(
            f"{out}: made from an earlier version of {path}; remove it or pass another --out"
        )
    if out.exists() and any(out.iterdir()):
        raise ChatDataError(f"{out}: exists and is not a folder imported from {path}")
    records: list[dict[str, Any]] = []
    topics: list[str] = []
    for index, chat in enumerate(read_chats(path)):
        digest = hashlib.sha256(
            json.dumps([index, chat.messages], ensure_ascii=False).encode()
        ).hexdigest()[:20]
        topic = str(chat.metadata.get("topic") or "imported")
        if topic not in topics:
            topics.append(topic)
        records.append(
            {
                "messages": chat.messages,
                "metadata": {
                    **chat.metadata,
                    "id": digest,
                    "index": index,
                    "task": "dialogue",
                    "topic": topic,
                    "source": chat.where,
                },
            }
        )
    if not records:
        raise ChatDataError(f"{path}: no conversations in it")
    out.mkdir(parents=True, exist_ok=True)
    with (out / RunDir.SAMPLES).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out / RunDir.REJECTS).touch()
    spec = {
        "task": "dialogue",
        "samples": len(records),
        "topics": topics[:1000],
        "output": str(out),
        "novelty": {"enabled": False},
    }
    atomic_write_json(out / RunDir.SPEC, spec)
    counts = {"requested": len(records), "accepted": len(records), "rejected": 0}
    atomic_write_json(
        out / RunDir.MANIFEST,
        {
            "status": "completed",
            "imported_from": str(path),
            "finished_at": now_iso(),
            "counts": {**counts, "failed": 0, "pending": 0},
            "files": {"samples": RunDir.SAMPLES, "rejects": RunDir.REJECTS},
        },
    )
    atomic_write_json(
        marker,
        {"source": str(path), "fingerprint": _fingerprint(path), "conversations": len(records)},
    )
    return out, len(records)
