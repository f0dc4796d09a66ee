"""The samples a run is generating right now, so a stop can cancel them.

A cancelled sample writes nothing: it stays pending, and its LangGraph checkpoint
(the turns committed so far) is what the next run resumes from, exactly as after a
kill. Cancelling is what lets a run that has decided to stop (a signal, an endpoint
that is down, the token budget) do so in seconds instead of after every request in
flight has exhausted its timeout and retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class InFlight:
    """Tracks one task per sample in progress; `cancel_all` stops them where they are."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    async def run(self, sample_id: str, work: Coroutine[Any, Any, None]) -> bool:
        """Run one sample's work; False if a stop cancelled it (it is then left pending)."""
        task = asyncio.ensure_future(work)
        self._tasks[sample_id] = task
        try:
            await task
            return True
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller itself is being cancelled: not ours to swallow
            return False
        finally:
            self._tasks.pop(sample_id, None)

    def cancel_all(self) -> int:
        """Cancel every sample in flight; returns how many were."""
        me = asyncio.current_task()
        tasks = [t for t in self._tasks.values() if not t.done() and t is not me]
        for task in tasks:
            task.cancel()
        return len(tasks)
