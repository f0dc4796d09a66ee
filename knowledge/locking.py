"""One process per local knowledge base: Chroma's local mode is not process-safe."""

from __future__ import annotations

from synthloom.core.errors import KnowledgeBaseLockedError
from synthloom.core.locking import FolderLock


class KnowledgeBaseLock(FolderLock):
    """An exclusive, non-blocking lock on a knowledge base folder (re-entrant in-process)."""

    error = KnowledgeBaseLockedError

    def busy_message(self, who: str) -> str:  # noqa: D102
        return (
            f"knowledge base {self.folder} is in use by {who}; a local Chroma folder serves one "
            "process at a time. Wait for it to finish, or serve the folder with "
            f"`chroma run --path {self.folder / 'chroma'}` and use --server (knowledge.server) "
            "to share it"
        )
