"""Append-only JSONL survives torn writes; atomic rewrites leave no partial file."""

from __future__ import annotations

import json
from pathlib import Path

from synthloom.core.store import JsonlAppender, iter_records, repair_tail, write_json_atomic


def test_append_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = JsonlAppender(path)
    for i in range(3):
        writer.append({"i": i, "text": "é" * 10_000})
    writer.close()
    assert [r["i"] for r in iter_records(path)] == [0, 1, 2]


def test_torn_last_line_is_skipped_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"i": 0}) + "\n" + '{"i": 1, "te')
    assert [r["i"] for r in iter_records(path)] == [0]
    writer = JsonlAppender(path)  # opening repairs the tail before appending
    writer.append({"i": 2})
    writer.close()
    assert [r["i"] for r in iter_records(path)] == [0, 2]


def test_repair_of_a_file_with_only_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"i": 0' * 20_000)
    assert repair_tail(path) == 7 * 20_000
    assert path.read_bytes() == b""


def test_atomic_json_write_replaces(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
