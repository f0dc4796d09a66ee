"""Checkpointers that travel: Postgres for every worker, or one SQLite file per worker.

With SQLite a dialogue cut on a lost worker starts again from its first turn wherever
it is re-dealt (each worker has its own file); with Postgres any worker on any node
finds its last checkpoint and goes on from the last committed turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from synthloom.core.errors import SynthloomError
from synthloom.core.redact import RedactingSerializer
from synthloom.execution.config import PostgresCheckpointer
from synthloom.sqlite_saver import LoopSqliteSaver

# Connections per process: samples wait for one only while a checkpoint is written.
POOL_SIZE = 8
CONNECT_TIMEOUT_S = 10.0


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN is named, not shown
        return "a malformed postgres DSN"
    host = parts.get("host", "localhost")
    return f"postgresql://{parts.get('user', '')}@{host}:{parts.get('port', 5432)}/" + str(
        parts.get("dbname", "")
    )


async def _check_reachable(dsn: str) -> None:
    """One plain connection first: the server's own reason, not a pool's timeout."""
    import psycopg

    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=int(CONNECT_TIMEOUT_S))
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()
        raise SynthloomError(
            f"checkpointer.postgres: cannot connect to {describe_dsn(dsn)} "
            f"({detail[0] if detail else type(exc).__name__}); is the server running and does "
            "the database exist?"
        ) from None
    await conn.close()


@asynccontextmanager
async def open_postgres_saver(
    config: PostgresCheckpointer, *, setup: bool
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A pooled `AsyncPostgresSaver`; `setup` creates its tables (the driver does, once)."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    await _check_reachable(config.postgres)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        config.postgres,
        min_size=1,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
        timeout=CONNECT_TIMEOUT_S,
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any connect failure is one clear message
        await pool.close()
        raise SynthloomError(
            f"checkpointer.postgres: cannot connect to {describe_dsn(config.postgres)} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            "is the server running and does the database exist?"
        ) from None
    try:
        saver = AsyncPostgresSaver(conn=pool)
        # Error text and dialogue in checkpoints are masked like every other file.
        saver.serde = RedactingSerializer(saver.serde)
        if setup:
            await saver.setup()
        yield saver
    finally:
        await pool.close()


@asynccontextmanager
async def open_worker_saver(
    checkpointer: object, sqlite_path: Path
) -> AsyncIterator[BaseCheckpointSaver[Any] | None]:
    """A worker's checkpointer: the shared Postgres one, its own SQLite file, or none."""
    if checkpointer == "none":
        yield None
        return
    if isinstance(checkpointer, PostgresCheckpointer):
        async with open_postgres_saver(checkpointer, setup=False) as shared:
            yield shared
        return
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    # The run's own saver (answers in the loop's thread, no aiosqlite hops per write).
    with LoopSqliteSaver.open(str(sqlite_path)) as saver:
        saver.serde = RedactingSerializer(saver.serde)
        yield saver
