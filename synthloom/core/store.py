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

from synthloom.core.redact import redact


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
        data = memoryview((redact(json.dumps(record, ensure_ascii=False)) + "\n").encode())
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as exc:  # a full disk: say which file
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from exc

    def close(self) -> None:
        """Flush to stable storage and close."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def write_json_atomic(path: Path, payload: Any) -> None:
    """Replace `path` with `payload` as JSON via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomic(path, [redact(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"])


def rewrite_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Atomically replace a JSONL file's contents (used to drop retried failures)."""
    _replace_atomic(path, (redact(json.dumps(r, ensure_ascii=False)) + "\n" for r in records))


def _replace_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write `chunks` to a temporary file beside `path`, then rename it over `path`.

    A failed write (a full disk) removes the temporary file and names `path` in the
    error, instead of leaving a stray `.NAME.*.tmp` behind and a bare errno.
    """
    tmp = tempfile.NamedTemporaryFile(  # closed below, on every path
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            for chunk in chunks:
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
    except OSError as exc:
        Path(tmp.name).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
