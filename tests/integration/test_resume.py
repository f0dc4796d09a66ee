"""Resuming runs: kill -9 of the CLI, torn lines, and dialogues resumed from checkpoints."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from synthloom.core.records import Turn
from synthloom.sqlite_saver import LoopSqliteSaver
from tests.integration.conftest import (
    assert_chat_record,
    assert_counts_consistent,
    cli,
    cli_popen,
    is_user_sim_request,
    make_spec,
    plans_of,
    read_jsonl,
    read_manifest,
    run_dataset,
    spec_yaml,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

KILL_SAMPLES = 20
TORN = b'{"messages": [{"role": "user", "content": "half a rec'


@pytest.fixture
def slow_server() -> Iterator[ScriptedOpenAIServer]:
    """A server with per-call latency so a CLI run lasts long enough to be killed mid-way."""
    with ScriptedOpenAIServer(latency=0.1) as srv:
        yield srv


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def checkpoint_threads(output: Path) -> set[str]:
    with sqlite3.connect(output / "checkpoints.sqlite") as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}


def kill_when_progressing(
    proc: Any, samples: Path, at_least: int, rng: random.Random, deadline_s: float = 30.0
) -> None:
    """SIGKILL the process once `samples` has `at_least` lines, after a random extra delay."""
    deadline = time.monotonic() + deadline_s
    while line_count(samples) < at_least:
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()
    proc.stderr.close()


def assert_complete_run(output: Path, spec_plans: list[Any], spec: Any) -> list[dict[str, Any]]:
    records = read_jsonl(output / "samples.jsonl")  # also fails on any torn line
    ids = [r["metadata"]["id"] for r in records]
    assert len(ids) == len(set(ids)), "duplicate sample ids after resume"
    assert set(ids) == {p.id for p in spec_plans}
    plans = {p.id: p for p in spec_plans}
    for record in records:
        assert_chat_record(record, spec, plans[record["metadata"]["id"]])
    assert read_manifest(output)["status"] == "completed"
    counts = assert_counts_consistent(output, requested=len(spec_plans))
    assert counts["accepted"] == len(spec_plans) and counts["pending"] == 0
    # Also after kills: a finished sample's leftover thread is purged on the next start.
    assert checkpoint_threads(output) == set()
    return records


async def test_kill9_of_a_first_run_then_resume(
    slow_server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        spec_yaml(slow_server.base_url, output, samples=KILL_SAMPLES, concurrency=2)
    )
    spec = make_spec(slow_server.base_url, output, samples=KILL_SAMPLES, concurrency=2)

    proc = cli_popen("run", str(spec_path), "--no-progress", cwd=tmp_path)
    kill_when_progressing(proc, output / "samples.jsonl", 3, random.Random(1))
    done_before = line_count(output / "samples.jsonl")
    assert 3 <= done_before < KILL_SAMPLES

    # Resuming is the same run in-process (the CLI's `run` is a thin wrapper around it).
    result = await run_dataset(spec)

    assert result.skipped >= done_before
    assert_complete_run(output, plans_of(spec), spec)


async def test_a_second_run_of_a_folder_in_use_is_refused_until_the_first_dies(
    tmp_path: Path,
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    # Slow enough that the first run is still going while the second one starts up.
    with ScriptedOpenAIServer(latency=0.5) as server:
        spec_path.write_text(
            spec_yaml(server.base_url, output, samples=KILL_SAMPLES, concurrency=2)
        )
        first = cli_popen("run", str(spec_path), "--no-progress", cwd=tmp_path)
        while not (output / "run.json").exists():
            assert first.poll() is None, first.communicate()[1]
            time.sleep(0.01)
        # Two writers would generate and append the same planned ids twice.
        second = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        pattern = rf"run folder \S+ is being written by pid {first.pid} \(synthloom run"
        assert re.search(pattern, second.stderr), second.stderr
        assert first.poll() is None  # the refused run left the first one alone
        kill_when_progressing(first, output / "samples.jsonl", 1, random.Random(2), 60.0)
        # The kernel dropped the lock with the killed process: resuming needs no cleanup.
        spec = make_spec(server.base_url, output, samples=KILL_SAMPLES, concurrency=8)
        await run_dataset(spec)
    assert_complete_run(output, plans_of(spec), spec)


def test_repeated_kill9_then_resume_yields_each_planned_sample_once(
    slow_server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    text = spec_yaml(slow_server.base_url, output, samples=KILL_SAMPLES, concurrency=2)
    spec_path.write_text(text)
    spec = make_spec(slow_server.base_url, output, samples=KILL_SAMPLES, concurrency=2)
    samples = output / "samples.jsonl"

    rng = random.Random(20240601)
    for _ in range(3):
        before = line_count(samples)
        proc = cli_popen("run", str(spec_path), "--no-progress", cwd=tmp_path)
        kill_when_progressing(proc, samples, before + 1, rng)
        after = line_count(samples)
        assert before < after < KILL_SAMPLES, "the kill did not land mid-run"
        # What was written before the kill is complete records, never a duplicate.
        ids = [r["metadata"]["id"] for r in read_jsonl(samples)]
        assert len(ids) == len(set(ids))

    # A torn last line, as a kill in the middle of a write would leave it.
    with open(samples, "ab") as handle:
        handle.write(TORN)
    done = line_count(samples)

    final = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)

    assert final.returncode == 0, final.stderr
    summary = " ".join(final.stderr.split())
    match = re.search(r"\((\d+) already done\)", summary)
    assert match and int(match.group(1)) >= done, summary
    assert TORN not in samples.read_bytes()
    assert_complete_run(output, plans_of(spec), spec)


async def test_torn_last_line_is_repaired_on_resume(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    # `samples` is a budget, not part of the dataset's identity: 3 now, 6 later.
    await run_dataset(make_spec(server.base_url, output, samples=3))
    samples = output / "samples.jsonl"
    intact = samples.read_bytes()
    with open(samples, "ab") as handle:
        handle.write(TORN)
    spec = make_spec(server.base_url, output, samples=6)

    result = await run_dataset(spec)

    assert result.skipped == 3 and result.new_samples == 3
    data = samples.read_bytes()
    assert data.startswith(intact)
    assert TORN not in data
    assert_complete_run(output, plans_of(spec), spec)


def _assistant_down_after_first_round(state: dict[str, bool]) -> Any:
    """Responder: the assistant's second call fails (HTTP 500) while `state['down']`."""

    def responder(body: dict[str, Any]) -> str | None:
        if state["down"] and not is_user_sim_request(body):
            if any(m["role"] == "assistant" for m in body["messages"]):
                raise RuntimeError("assistant backend is down")
        return None

    return responder


async def saved_turns(output: Path, thread_id: str) -> list[Turn]:
    path = str(output / "checkpoints.sqlite")
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
    assert saved is not None, f"no checkpoint for {thread_id}"
    turns: list[Turn] = saved.checkpoint["channel_values"]["turns"]
    return turns


async def test_dialogues_resume_mid_way_from_their_checkpoints(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    from synthloom.runner import MAX_CONSECUTIVE_TRANSIENT

    state = {"down": True}
    server.responder = _assistant_down_after_first_round(state)
    output = tmp_path / "run"
    samples = MAX_CONSECUTIVE_TRANSIENT  # every sample fails once: enough to stop the run
    spec = make_spec(
        server.base_url, output, samples=samples, concurrency=2, rounds=(2, 2), max_retries=0
    )
    plans = plans_of(spec)

    stopped = await run_dataset(spec)

    assert stopped.status == "stopped"
    assert stopped.stopped_because and "in a row" in stopped.stopped_because
    manifest = read_manifest(output)
    assert manifest["status"] == "stopped"
    counts = assert_counts_consistent(output, requested=samples)
    assert counts == {
        "requested": samples,
        "accepted": 0,
        "rejected": 0,
        "failed": 0,
        "pending": samples,
    }
    assert server.stats.status_counts == {200: 3 * samples, 500: samples}
    # Every pending dialogue is checkpointed after its first round and second user turn.
    assert checkpoint_threads(output) == {p.id for p in plans}
    before = {p.id: await saved_turns(output, p.id) for p in plans}
    for turns in before.values():
        assert [t["role"] for t in turns] == ["user", "assistant", "user"]

    state["down"] = False
    server.reset_stats()
    resumed = await run_dataset(spec)

    assert resumed.status == "completed" and resumed.new_samples == samples
    records = assert_complete_run(output, plans, spec)
    for record in records:
        turns = record["messages"][1:]  # after the system prompt
        assert turns[:3] == before[record["metadata"]["id"]]
        assert len(turns) == 4
        # Usage survived in the checkpoint: 3 calls before the stop, 1 after.
        assert record["metadata"]["usage"]["calls"] == 4
    # Only each dialogue's missing assistant answer was requested: no user turn was redone.
    log = server.request_log
    assert len(log) == samples
    assert not any(is_user_sim_request(b) for b in log)
    assert all([m["role"] for m in b["messages"]][1:] == ["user", "assistant", "user"] for b in log)


async def test_run_with_pending_samples_is_not_reported_completed(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server.responder = _assistant_down_after_first_round({"down": True})
    output = tmp_path / "run"
    spec = make_spec(
        server.base_url, output, samples=2, concurrency=1, rounds=(2, 2), max_retries=0
    )

    result = await run_dataset(spec)

    # Two transient failures do not stop the run, but its samples are still pending.
    assert result.stopped_because is None
    counts = assert_counts_consistent(output, requested=2)
    assert counts["pending"] == 2
    assert result.counts.pending == 2
    assert result.status == read_manifest(output)["status"] != "completed"
    assert checkpoint_threads(output) == {p.id for p in plans_of(spec)}


async def test_interrupt_after_append_leaves_no_stale_checkpoint(
    server: ScriptedOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Interrupted(Exception):
        pass

    async def interrupted(self: LoopSqliteSaver, thread_id: str) -> None:
        raise Interrupted(thread_id)

    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=3, concurrency=1)
    with monkeypatch.context() as patch:
        # The process stops right after the first sample is appended (Ctrl-C, kill -9).
        patch.setattr(LoopSqliteSaver, "adelete_thread", interrupted)
        with pytest.raises(Interrupted) as stopped:
            await run_dataset(spec)
    (written,) = read_jsonl(output / "samples.jsonl")
    assert written["metadata"]["id"] == str(stopped.value)
    assert read_manifest(output)["status"] == "interrupted"

    result = await run_dataset(spec)

    assert result.status == "completed" and result.skipped == 1 and result.new_samples == 2
    assert_complete_run(output, plans_of(spec), spec)  # no checkpoint threads left


def test_a_token_budget_stops_the_run_and_a_higher_one_resumes_it(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_yaml(server.base_url, output, samples=6, concurrency=1))
    # One token: the first sample starts (nothing spent yet), none after it.
    stopped = cli("run", str(spec_path), "--no-progress", "--budget-tokens", "1", cwd=tmp_path)
    assert stopped.returncode == 2
    assert "token budget reached" in stopped.stderr and "of 1 tokens used" in stopped.stderr
    manifest = read_manifest(output)
    assert manifest["status"] == "stopped"
    assert manifest["counts"]["accepted"] + manifest["counts"]["rejected"] == 1
    assert manifest["counts"]["pending"] == 5
    spent = manifest["usage"]["total_tokens"]
    # The budget counts every run into the folder: the same limit stops a resume at once.
    again = cli("run", str(spec_path), "--no-progress", "--budget-tokens", str(spent), cwd=tmp_path)
    assert again.returncode == 2 and read_manifest(output)["counts"]["pending"] == 5
    done = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    final = assert_counts_consistent(output, 6)
    assert final["pending"] == 0
    ids = [r["metadata"]["id"] for r in read_jsonl(output / "samples.jsonl")]
    assert len(ids) == len(set(ids))
