"""Append-only JSONL survives torn writes; atomic rewrites leave no partial file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from synthloom.core.errors import RunDirError
from synthloom.core.store import (
    JsonlAppender,
    iter_records,
    repair_tail,
    rewrite_jsonl,
    write_json_atomic,
)


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


def test_outputs_are_readable_like_any_other_file(tmp_path: Path) -> None:
    # mkstemp makes files 0600; a run's outputs must be readable by a colleague or a container user.
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "run.json", {"a": 1})
        rewrite_jsonl(tmp_path / "rejects.jsonl", [{"a": 1}])
        JsonlAppender(tmp_path / "samples.jsonl").close()
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"run.json": 0o644, "rejects.jsonl": 0o644, "samples.jsonl": 0o644}


def test_a_rewrite_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "coverage.json"
    write_json_atomic(path, {"a": 1})
    path.chmod(0o640)
    write_json_atomic(path, {"a": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert json.loads(path.read_text()) == {"a": 2}


def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"a": 1}\n{"a": \n[1, 2]\n')
    with pytest.raises(RunDirError, match=r"samples.jsonl:2: invalid JSON"):
        list(iter_records(path))
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(RunDirError, match=r"samples.jsonl:2: expected a JSON object"):
        list(iter_records(path))
    with pytest.raises(FileNotFoundError):
        list(iter_records(tmp_path / "missing.jsonl", missing_ok=False))
    assert list(iter_records(tmp_path / "missing.jsonl")) == []
