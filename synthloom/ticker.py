"""Things a run does every few seconds while it works: the live manifest, a status line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        # A failed tick (a full disk) is retried at the next one; the run's final
        # write raises it with its path if it persists.
        with suppress(OSError):
            action()


@asynccontextmanager
async def ticking(seconds: float | None, action: Callable[[], None]) -> AsyncIterator[None]:
    """Call `action` every `seconds` (if not None) while inside the block."""
    if seconds is None:
        yield
        return
    task = asyncio.create_task(_every(seconds, action))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
