"""Fixtures every test folder shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from agents.llm import close_connections


@pytest_asyncio.fixture(autouse=True)
async def _close_model_connections() -> AsyncIterator[None]:
    """An async test's model connections close in its own loop, as a command's do."""
    yield
    await close_connections()
