"""One process per local knowledge base: Chroma's local mode is not process-safe.

The lock is an OS file lock (released by the kernel even after `kill -9`), so a
stale lock cannot exist. Who holds it is written beside it, so a second process
gets an error that names the folder, the holder's pid and what it is doing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from knowledge.errors import KnowledgeBaseLockedError, KnowledgeError

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock-holder.json"


class KnowledgeBaseLock:
    """An exclusive, non-blocking lock on a knowledge base folder (re-entrant in-process)."""

    def __init__(self, folder: Path, purpose: str) -> None:
        self.folder = folder
        self.purpose = purpose
        # A singleton per path: the same process may open its own base more than once.
        self._lock = FileLock(
            folder / LOCK_FILE, blocking=False, thread_local=False, is_singleton=True
        )

    def acquire(self) -> None:
        """Take the lock or raise `KnowledgeBaseLockedError` naming who holds it."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KnowledgeError(
                f"{self.folder}: cannot create the knowledge base folder: {exc}"
            ) from None
        first = not self._lock.is_locked
        try:
            self._lock.acquire()
        except Timeout:
            raise KnowledgeBaseLockedError(self._busy_message()) from None
        if first:
            holder = {
                "pid": os.getpid(),
                "purpose": self.purpose,
                "command": " ".join(sys.argv),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (self.folder / HOLDER_FILE).write_text(json.dumps(holder) + "\n", encoding="utf-8")

    def release(self) -> None:
        """Release one level; the folder is free again when the last one goes."""
        if self._lock.is_locked:
            self._lock.release()

    def _busy_message(self) -> str:
        try:
            holder = json.loads((self.folder / HOLDER_FILE).read_text(encoding="utf-8"))
            who = f"pid {holder['pid']} ({holder.get('purpose', '?')}, since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            who = "another process"
        return (
            f"knowledge base {self.folder} is in use by {who}; a local Chroma folder serves one "
            "process at a time. Wait for it to finish, or serve the folder with "
            f"`chroma run --path {self.folder / 'chroma'}` and use --server (knowledge.server) "
            "to share it"
        )
