"""One writing process per folder: run folders and local knowledge bases.

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

from synthloom.core import names
from synthloom.core.errors import SynthloomError

LOCK_FILE = names.LOCK
HOLDER_FILE = ".lock-holder.json"


class FolderLock:
    """An exclusive, non-blocking lock on a folder (re-entrant in-process).

    Subclasses say what the folder is in `busy_message` and which error to raise.
    """

    error: type[SynthloomError] = SynthloomError

    def __init__(self, folder: Path, purpose: str) -> None:
        self.folder = folder
        self.purpose = purpose
        # A singleton per path: the same process may open its own folder more than once.
        self._lock = FileLock(
            folder / LOCK_FILE, blocking=False, thread_local=False, is_singleton=True
        )

    def acquire(self) -> None:
        """Take the lock or raise `self.error` naming who holds it."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.error(f"{self.folder}: cannot create the folder: {exc}") from None
        first = not self._lock.is_locked
        try:
            self._lock.acquire()
        except Timeout:
            raise self.error(self.busy_message(self._holder())) from None
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

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def busy_message(self, who: str) -> str:
        """The error text when `who` (a description of the holder) has the folder."""
        return f"{self.folder} is in use by {who}"

    def _holder(self) -> str:
        return _describe_holder(self.folder)


def _describe_holder(folder: Path) -> str:
    try:
        holder = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
        return f"pid {holder['pid']} ({holder.get('purpose', '?')}, since {holder['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def current_writer(folder: Path) -> str | None:
    """Who is writing `folder` now (another process holds its lock), or None.

    Readers (`report`, `export`) ask so they can say that what they read is partial.
    """
    if not (folder / LOCK_FILE).exists():
        return None
    lock = FileLock(folder / LOCK_FILE, blocking=False, thread_local=False, is_singleton=True)
    if lock.is_locked:
        return None  # this very process holds it
    try:
        lock.acquire()
    except Timeout:
        return _describe_holder(folder)
    lock.release()
    return None
