"""The run's SQLite checkpointer: LangGraph's own saver, served in the event loop's thread.

`AsyncSqliteSaver` sends every statement through aiosqlite's worker thread: each
checkpoint write is an execute and a commit, each a hop to that thread and a wake-up
of the loop on the way back, with a lock held across both. A local SQLite write in
WAL mode with `synchronous=NORMAL` takes tens of microseconds and never waits on a
disk flush, so the hops cost more than the writes (about a fifth of a dialogue run's
client CPU). This saver is LangGraph's `SqliteSaver` (same schema, same SQL, same
serializer, readable by either) whose async methods call the sync ones in place.

Writes made in one turn of the event loop are committed together, right after it
(`loop.call_soon`): with 64 dialogues in flight that is one commit for many graph
steps instead of one per write. A process killed in between loses at most the
steps of that one turn of the loop; each of those samples resumes from its
previous checkpoint, and nothing written to the run folder depends on them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.sqlite import SqliteSaver


class LoopSqliteSaver(SqliteSaver):
    """`SqliteSaver` with its async interface answered in the calling thread, at once."""

    _commit_pending = False
    _closed = False

    @classmethod
    @contextmanager
    def open(cls, path: str) -> Iterator[LoopSqliteSaver]:
        """The saver over the file at `path`, set up (WAL, `synchronous=NORMAL`), then closed."""
        conn = sqlite3.connect(path, check_same_thread=False)
        saver = cls(conn)
        try:
            saver.setup()
            # WAL with synchronous=NORMAL: a commit survives a killed process (what resume
            # needs) without an fsync per graph step; only a power cut can lose the last few.
            conn.execute("PRAGMA synchronous=NORMAL")
            yield saver
        finally:
            saver.commit()  # however the run ended, what it wrote stays
            saver._closed = True
            conn.close()

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        """The saver's cursor; a write's commit waits for the end of this turn of the loop."""
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
        if transaction:
            self._commit_soon()

    def _commit_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop: commit now
            self.commit()
            return
        if not self._commit_pending:
            self._commit_pending = True
            loop.call_soon(self.commit)

    def commit(self) -> None:
        """Commit what was written since the last commit."""
        self._commit_pending = False
        if self._closed:
            return
        with self.lock:
            self.conn.commit()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The thread's latest (or the named) checkpoint."""
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints matching the arguments, newest first.

        Read whole before the first is yielded: the sync `list` holds the saver's lock
        while it iterates, and a write from another task in between would wait on it.
        """
        found = list(self.list(config, filter=filter, before=before, limit=limit))
        for item in found:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write (and commit) one checkpoint."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Write (and commit) a task's pending writes."""
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Drop a thread's checkpoints and writes (its sample is on disk)."""
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The sync fast path, for graphs with delta channels."""
        return self.get_delta_channel_history(config=config, channels=channels)
