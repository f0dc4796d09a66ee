"""Atomic writes: a failed one leaves no temporary file and names the path it was writing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from synthloom.core.store import rewrite_jsonl, write_json_atomic


def disk_full(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("write", ["json", "jsonl"])
def test_a_failed_atomic_write_cleans_up_and_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    target = tmp_path / "run.json"
    target.write_text('{"old": true}\n')
    monkeypatch.setattr(os, "fsync", disk_full)

    with pytest.raises(OSError) as caught:
        if write == "json":
            write_json_atomic(target, {"new": True})
        else:
            rewrite_jsonl(target, [{"new": True}])

    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno {errno.ENOSPC}] No space left on device: {str(target)!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    assert target.read_text() == '{"old": true}\n'
