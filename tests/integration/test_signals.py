"""SIGTERM and SIGINT of a real `synthloom run` subprocess over real HTTP: drain, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    assert_counts_consistent,
    cli,
    cli_popen,
    make_spec,
    plans_of,
    read_jsonl,
    read_manifest,
    spec_yaml,
)
from tests.integration.test_resume import assert_complete_run, line_count
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

SAMPLES = 16


@pytest.fixture
def slow_server() -> Iterator[ScriptedOpenAIServer]:
    """Each call takes a while, so a run is still going when the signal comes."""
    with ScriptedOpenAIServer(latency=0.2) as srv:
        yield srv


def wait_for(condition: object, proc: subprocess.Popen[str], what: str) -> None:
    """Poll `condition()` until true; the run must still be going meanwhile."""
    deadline = time.monotonic() + 60.0
    while not condition():  # type: ignore[operator]
        assert proc.poll() is None, f"run ended before {what}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The process's exit status and stderr, once it has exited by itself."""
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


@pytest.mark.parametrize(("signum", "rc"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_drains_the_run_and_a_resume_completes_it(
    slow_server: ScriptedOpenAIServer, tmp_path: Path, signum: int, rc: int
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_yaml(slow_server.base_url, output, samples=SAMPLES))
    proc = cli_popen("run", str(spec_path), "--no-progress", "--grace", "1", cwd=tmp_path)
    wait_for(lambda: line_count(output / "samples.jsonl") >= 2, proc, "two samples")

    os.kill(proc.pid, signum)
    code, stderr = finish(proc)

    assert code == rc, stderr
    name = signal.Signals(signum).name
    assert f"{name}: starting no new samples" in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {name}: "), stderr
    assert f"resume with: synthloom run {spec_path} --no-progress --grace 1" in last
    manifest = read_manifest(output)
    assert manifest["status"] == "interrupted"
    counts = assert_counts_consistent(output, requested=SAMPLES)
    assert counts["pending"] > 0, "the signal came after the run had finished"
    assert f"{counts['pending']} pending of {SAMPLES}" in last

    resumed = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    spec = make_spec(slow_server.base_url, output, samples=SAMPLES)
    assert_complete_run(output, plans_of(spec), spec)


def test_samples_still_in_flight_after_the_grace_are_cancelled_and_resumed(
    tmp_path: Path,
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    with ScriptedOpenAIServer() as server:
        # Every request of the first run hangs far longer than the test waits.
        server.hang_next(seconds=600.0, count=2)
        spec_path.write_text(spec_yaml(server.base_url, output, samples=4, timeout=900.0))
        proc = cli_popen("run", str(spec_path), "--no-progress", "--grace", "0.5", cwd=tmp_path)
        wait_for(lambda: server.pending_faults() == 0, proc, "two requests hung")

        proc.send_signal(signal.SIGTERM)
        code, stderr = finish(proc)  # long before the hung requests would answer

        assert code == 143, stderr
        assert "2 in flight get 0.5s to finish" in stderr
        assert read_manifest(output)["status"] == "interrupted"
        counts = assert_counts_consistent(output, requested=4)
        assert counts["pending"] == 4
        assert read_jsonl(output / "rejects.jsonl") == []

        server.clear_faults()
        resumed = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        spec = make_spec(server.base_url, output, samples=4, timeout=900.0)
        assert_complete_run(output, plans_of(spec), spec)


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    with ScriptedOpenAIServer() as server:
        server.hang_next(seconds=600.0, count=2)
        spec_path.write_text(spec_yaml(server.base_url, output, samples=4, timeout=900.0))
        # A grace longer than the test's patience: only the second signal can end it.
        proc = cli_popen("run", str(spec_path), "--no-progress", "--grace", "600", cwd=tmp_path)
        wait_for(lambda: server.pending_faults() == 0, proc, "two requests hung")
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        while "SIGINT: starting no new samples" not in proc.stderr.readline():
            assert proc.poll() is None, "the run ended on the first signal"

        proc.send_signal(signal.SIGTERM)
        code, stderr = finish(proc)

        assert code == 130, stderr  # the first signal names the exit status
        assert "SIGTERM again: exiting now" in stderr
        assert read_manifest(output)["status"] == "interrupted"
        assert assert_counts_consistent(output, requested=4)["pending"] == 4
