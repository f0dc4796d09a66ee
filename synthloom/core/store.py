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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from synthloom.core.errors import RunDirError
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


def iter_records(path: Path, *, missing_ok: bool = True) -> Iterator[dict[str, Any]]:
    """Complete JSON records of a JSONL file; a torn last line (a killed writer) is skipped.

    Any other bad line is one `RunDirError` naming the file and line, never a bare
    `JSONDecodeError` from deep inside a reader.
    """
    if missing_ok and not path.exists():
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                return
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RunDirError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise RunDirError(f"{path}:{number}: expected a JSON object per line")
            yield record


def encode_line(record: dict[str, Any]) -> str:
    """One record as the line an appender writes: JSON, secrets masked, newline-ended."""
    return redact(json.dumps(record, ensure_ascii=False)) + "\n"


class JsonlAppender:
    """Appends one JSON record per line, each in a single write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        """Write the record now; it is on disk once this returns (barring a power cut)."""
        self.append_encoded([encode_line(record)])

    def append_encoded(self, lines: Sequence[str]) -> None:
        """Write lines made by `encode_line` (elsewhere: a Ray worker), all in one write."""
        if not lines:
            return
        data = memoryview("".join(lines).encode())
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
    text = redact(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"
    write_atomically(path, lambda handle: handle.write(text))


def rewrite_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Atomically replace a JSONL file's contents (used to drop retried failures)."""

    def write(handle: IO[Any]) -> None:
        for record in records:
            handle.write(redact(json.dumps(record, ensure_ascii=False)) + "\n")

    write_atomically(path, write)


def write_atomically(path: Path, write: Callable[[IO[Any]], object], mode: str = "w") -> Path:
    """Write through `write` into a temporary file beside `path`, then rename it over `path`.

    The file gets the mode a plain `open(path, "w")` would give it (0644 under the
    usual umask, or the mode of the file it replaces), so a colleague or a container
    user can read a run's outputs. A failed write (a full disk) removes the temporary
    file and names `path` in the error instead of a bare errno.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
