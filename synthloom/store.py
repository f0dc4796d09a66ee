"""Append-only JSONL files that survive `kill -9`.

Each record is written with one `write(2)` on an `O_APPEND` descriptor, so a
killed process leaves at most one torn final line; opening the file again cuts
that line off before appending, and readers skip it. Nothing is ever rewritten
in place except by an explicit, atomic `rewrite`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def repair_tail(path: Path) -> int:
    """Truncate a torn last line (no trailing newline); returns bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the previous newline in chunks.
        position = size
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            chunk = handle.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = position - step + cut + 1
                handle.truncate(keep)
                return size - keep
            position -= step
        handle.truncate(0)
        return size


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Complete JSON records of a JSONL file (a torn last line is skipped)."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            if raw.strip():
                yield json.loads(raw)


class JsonlAppender:
    """Appends one JSON record per line, each in a single write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        """Write the record now; it is on disk once this returns (barring a power cut)."""
        data = memoryview((json.dumps(record, ensure_ascii=False) + "\n").encode())
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        """Flush to stable storage and close."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def write_json_atomic(path: Path, payload: Any) -> None:
    """Replace `path` with `payload` as JSON via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as tmp:
        json.dump(payload, tmp, indent=2, ensure_ascii=False)
        tmp.write("\n")
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def rewrite_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Atomically replace a JSONL file's contents (used to drop retried failures)."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as tmp:
        for record in records:
            tmp.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
