"""A completed run leaves a compact checkpoints.sqlite: finished dialogues' pages given back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.integration.conftest import make_spec, run_dataset
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def pragma(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        value: int = conn.execute(f"PRAGMA {name}").fetchone()[0]
    return value


async def test_a_completed_run_vacuums_its_checkpoints(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=12, concurrency=4, rounds=(3, 3))

    result = await run_dataset(spec)

    assert result.status == "completed"
    database = output / "checkpoints.sqlite"
    # Every thread was deleted, and no free page is left behind in the file.
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
    assert pragma(database, "freelist_count") == 0
    assert database.stat().st_size == pragma(database, "page_count") * pragma(database, "page_size")
    wal = output / "checkpoints.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
