"""Kill a real expansion process with SIGKILL mid-way, re-run it, and compare trees."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.concepts.expand_job import run

REPO = Path(__file__).resolve().parents[2]


def job(db: Path, out: Path, delay: float = 0.0) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.concepts.expand_job",
        "--db",
        str(db),
        "--out",
        str(out),
        "--delay",
        str(delay),
    ]


def finish(db: Path, out: Path) -> tuple[int, bool]:
    done = subprocess.run(job(db, out), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    match = re.search(r"done calls=(\d+) resumed=(True|False)", done.stdout)
    assert match, done.stdout
    return int(match.group(1)), match.group(2) == "True"


async def test_sigkilled_expansion_resumes_to_the_uninterrupted_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, out = tmp_path / "ckpt.sqlite", tmp_path / "tree.json"
    proc = subprocess.Popen(job(db, out, delay=0.05), cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("batch 3"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # killed before the tree was written

    resumed_calls, resumed = finish(db, out)
    assert resumed
    # The same job, uninterrupted (in this process: the subprocess startup is the slow part).
    await run(str(tmp_path / "fresh.sqlite"), str(tmp_path / "fresh.json"), delay=0.0)
    assert "done calls=27 resumed=False" in capsys.readouterr().out
    assert 0 < resumed_calls < 27  # the batches finished before the kill were not redone
    interrupted = json.loads(out.read_text())
    uninterrupted = json.loads((tmp_path / "fresh.json").read_text())
    assert interrupted == uninterrupted
    assert len(interrupted["nodes"]) == 220
