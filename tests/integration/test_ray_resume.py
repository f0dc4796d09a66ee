"""`--ray local` and the clear errors before any sample.

The signal handling a Ray start must leave in place, an unreachable cluster address,
and a local knowledge folder offered to several worker processes. (The driver killed
with kill -9 and resumed with `--ray local` is in test_ray.py, on its shared cluster.)
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthloom.execution.config import ExecutionError, ExecutionSpec
from synthloom.execution.driver import check_shared_state, connect
from tests.integration.conftest import (
    make_spec,
)

pytestmark = pytest.mark.integration

SAMPLES = 16


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def raylet_pids() -> set[int]:
    """Ray's node processes on this machine (a stray one eats CPU for nothing)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"/ray/core/src/ray/raylet/raylet" in raw or b"gcs_server" in raw:
                found.add(int(entry.name))
    return found


@pytest.fixture
def no_stray_ray() -> Iterator[None]:
    """Fail (and clean up) if a test leaves Ray node processes behind."""
    before = raylet_pids()
    yield
    deadline = time.monotonic() + 20
    while (left := raylet_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"Ray processes outlived the run: {sorted(left)}"


def test_an_unreachable_cluster_address_is_named_in_seconds() -> None:
    began = time.monotonic()
    with pytest.raises(ExecutionError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:9'"):
        with connect(ExecutionSpec(ray="127.0.0.1:9"), 1):
            pass
    assert time.monotonic() - began < 30  # Ray itself would retry for minutes
    with pytest.raises(ExecutionError, match="is not a Ray address"):
        with connect(ExecutionSpec(ray="head-without-port"), 1):
            pass


def test_a_local_knowledge_folder_is_refused_for_many_workers(tmp_path: Path) -> None:
    spec = make_spec("http://127.0.0.1:9/v1", tmp_path / "run")
    spec = spec.model_validate(
        {**spec.model_dump(), "knowledge": {"path": str(tmp_path / "kb"), "sources": []}}
    )
    with pytest.raises(ExecutionError, match="workers on several machines") as caught:
        check_shared_state(spec, nodes=3)
    assert "chroma run --path" in str(caught.value) and "knowledge.server" in str(caught.value)
    with pytest.raises(ExecutionError, match="several worker processes"):
        check_shared_state(spec, nodes=1)


def test_starting_ray_keeps_the_runs_signal_handling(no_stray_ray: None) -> None:
    # Ray's core would otherwise abort the driver on SIGTERM instead of draining the run.
    def drain(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    saved = signal.signal(signal.SIGTERM, drain)
    try:
        with connect(ExecutionSpec(ray="local", workers=1), 1) as cluster:
            assert cluster.started_here and cluster.nodes == 1
            assert signal.getsignal(signal.SIGTERM) is drain
    finally:
        signal.signal(signal.SIGTERM, saved)
