"""A run that decides to stop does so at once; while it works, run.json says where it is."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from agents.endpoints import open_models
from synthloom.runner import MAX_CONSECUTIVE_TRANSIENT, DatasetRun, RunResult
from synthloom.spec import RunSpec
from tests.integration.conftest import (
    ROLES,
    assert_counts_consistent,
    make_spec,
    read_jsonl,
    read_manifest,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

HANG_S = 600.0  # far longer than any test waits: only a cancellation ends such a request


async def run_with(spec: RunSpec, console: Console | None = None, **options: float) -> RunResult:
    with open_models(spec, ROLES) as models:
        job = DatasetRun(spec, models, console=console, show_progress=False, **options)  # type: ignore[arg-type]
        return await asyncio.wait_for(job.run(), timeout=120)


async def test_errors_in_a_row_stop_the_run_and_cancel_the_sample_in_flight(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server.hang_next(HANG_S)
    server.fail_next(500, count=MAX_CONSECUTIVE_TRANSIENT)
    output = tmp_path / "run"
    spec = make_spec(
        server.base_url, output, samples=20, concurrency=2, timeout=HANG_S * 2, max_retries=0
    )
    out = io.StringIO()

    result = await run_with(spec, Console(file=out, width=400), status_every_s=0.05)

    assert result.status == "stopped"
    assert result.stopped_because is not None
    assert result.stopped_because.startswith(
        f"{MAX_CONSECUTIVE_TRANSIENT} samples in a row failed on endpoint errors after every "
        "retry, last: HTTP 500"
    )
    # The eight failed samples and the hung one were all the run started: none finished.
    assert server.stats.requests == MAX_CONSECUTIVE_TRANSIENT + 1
    counts = assert_counts_consistent(output, requested=20)
    assert counts["pending"] == 20
    assert read_manifest(output)["status"] == "stopped"
    status = [line for line in out.getvalue().splitlines() if line.startswith("status: ")]
    assert status, out.getvalue()
    assert all(" of 20 done " in line and " in flight, " in line for line in status)


async def test_run_json_is_rewritten_while_the_run_works(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=8, concurrency=2, timeout=HANG_S * 2)
    # Two samples of one round each finish, then every request hangs: the run sits still.
    spec = spec.model_validate(
        {
            **spec.model_dump(),
            "dialogue": {**spec.dialogue.model_dump(), "rounds": {"min": 1, "max": 1}},
        }
    )
    server.responder = None
    job = asyncio.create_task(run_with(spec, manifest_every_s=0.05))
    samples = output / "samples.jsonl"
    while len(read_jsonl(samples)) < 2:
        await asyncio.sleep(0.01)
    server.hang_next(HANG_S, count=2)
    while server.pending_faults():
        await asyncio.sleep(0.01)
    accepted = len(read_jsonl(samples))
    await asyncio.sleep(0.3)  # a few manifest periods

    manifest = read_manifest(output)
    assert manifest["status"] == "running"
    assert assert_counts_consistent(output, requested=8)["accepted"] == accepted
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
