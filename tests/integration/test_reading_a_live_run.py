"""Reading a folder a run is still writing: export refuses unless --partial, report says so."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import cli, cli_popen, read_jsonl, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def test_export_and_report_of_a_folder_being_written(tmp_path: Path) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    with ScriptedOpenAIServer() as server:
        spec_path.write_text(spec_yaml(server.base_url, output, samples=6, timeout=900.0))
        first = cli("run", str(spec_path), "--samples", "2", "--no-progress", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        written = len(read_jsonl(output / "samples.jsonl"))
        server.hang_next(seconds=600.0, count=2)  # the next run sits with 2 samples in flight
        proc: subprocess.Popen[str] = cli_popen(
            "run", str(spec_path), "--no-progress", "--grace", "0", cwd=tmp_path
        )
        deadline = time.monotonic() + 60
        while server.pending_faults():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)

        refused = cli("export", str(output), "--to", str(tmp_path / "a.jsonl"), cwd=tmp_path)
        partial = cli(
            "export", str(output), "--to", str(tmp_path / "b.jsonl"), "--partial", cwd=tmp_path
        )
        report = cli("report", str(output), "--embedder", "none", cwd=tmp_path)

        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    busy = f"{output} is still being written by pid {proc.pid} (synthloom run"
    assert refused.returncode == 2
    assert busy in refused.stderr and "pass --partial" in " ".join(refused.stderr.split())
    assert not (tmp_path / "a.jsonl").exists()
    assert partial.returncode == 0, partial.stderr
    assert busy in partial.stderr and "exporting what is there now" in partial.stderr
    assert len(read_jsonl(tmp_path / "b.jsonl")) == written
    assert report.returncode == 0, report.stderr
    assert busy in report.stderr and "covers what is written so far" in report.stderr
    # Once the run has gone, the same export goes through without a word about it.
    after = cli("export", str(output), "--to", str(tmp_path / "a.jsonl"), cwd=tmp_path)
    assert after.returncode == 0 and "still being written" not in after.stderr
