"""Endpoint faults over real HTTP: 429/5xx retries, timeouts, malformed JSON, 400s."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    assert_chat_record,
    assert_counts_consistent,
    is_user_sim_request,
    make_spec,
    plans_of,
    read_jsonl,
    read_manifest,
    run_dataset,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


async def test_retry_after_on_429_is_honoured(server: ScriptedOpenAIServer, tmp_path: Path) -> None:
    retry_after = 1.0  # longer than the client's first backoff (<= 0.5 s) so it is observable
    served: list[float] = []
    lock = threading.Lock()

    def responder(body: dict[str, Any]) -> None:
        with lock:
            served.append(time.monotonic())
            if len(served) == 1:  # the very next request (the assistant's) gets the 429
                server.fail_next(429, retry_after=retry_after)

    server.responder = responder
    output = tmp_path / "run"
    spec = make_spec(
        server.base_url, output, samples=1, concurrency=1, rounds=(1, 1), max_retries=1
    )

    result = await run_dataset(spec)

    assert result.status == "completed"
    assert server.stats.status_counts == {200: 2, 429: 1}
    assert server.stats.requests == 3
    # The 429 came right after the first answer; the retry waited for Retry-After.
    waited = served[1] - served[0]
    assert retry_after <= waited < retry_after + 5.0
    assert assert_counts_consistent(output, requested=1)["accepted"] == 1


async def test_429_and_5xx_are_retried_and_every_sample_completes(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server.fail_next(429, retry_after=0.2)
    server.fail_next(500)  # no Retry-After: the client's own exponential backoff
    server.fail_next(503, retry_after=0.1)
    server.fail_next(502, retry_after=0.1)
    output = tmp_path / "run"
    # Four faults, each request may meet all of them: four retries always suffice.
    spec = make_spec(server.base_url, output, samples=6, concurrency=3, max_retries=4)

    result = await run_dataset(spec)

    assert result.status == "completed"
    stats = server.stats
    assert server.pending_faults() == 0
    assert {s: stats.status_counts.get(s) for s in (429, 500, 502, 503)} == {
        429: 1,
        500: 1,
        502: 1,
        503: 1,
    }
    counts = assert_counts_consistent(output, requested=6)
    assert counts == {"requested": 6, "accepted": 6, "rejected": 0, "failed": 0, "pending": 0}
    assert read_jsonl(output / "rejects.jsonl") == []
    # Every fault was answered by a retry: four more requests than successful calls.
    calls = read_manifest(output)["usage"]["calls"]
    assert stats.status_counts[200] == calls
    assert stats.requests == calls + 4
    plans = {p.id: p for p in plans_of(spec)}
    for record in read_jsonl(output / "samples.jsonl"):
        assert_chat_record(record, spec, plans[record["metadata"]["id"]])


async def test_hung_request_times_out_and_is_retried(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    timeout = 0.5
    hang = 20.0  # the server stops (and wakes the hung handler) at teardown
    server.hang_next(seconds=hang)
    output = tmp_path / "run"
    spec = make_spec(
        server.base_url, output, samples=3, concurrency=2, timeout=timeout, max_retries=2
    )
    started = time.monotonic()

    result = await run_dataset(spec)

    elapsed = time.monotonic() - started
    assert result.status == "completed"
    assert server.pending_faults() == 0
    counts = assert_counts_consistent(output, requested=3)
    assert counts["accepted"] == 3 and counts["failed"] == 0 and counts["pending"] == 0
    # One request more than the calls that produced answers: the hung one, given up on.
    calls = read_manifest(output)["usage"]["calls"]
    assert server.stats.requests == calls + 1
    # The client waited for its timeout, and did not wait for the hang to end.
    assert timeout <= elapsed < hang / 2


async def test_malformed_json_within_reask_budget_is_reasked_with_feedback(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    broken = '{"message": "my knee hurts when I'
    wrong_shape = '{"text": "a valid JSON object without the message field"}'
    server.malformed_next(1, content=broken)
    server.malformed_next(1, content=wrong_shape)
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=2, concurrency=1, rounds=(1, 1), max_reasks=2)

    result = await run_dataset(spec)

    assert result.status == "completed"
    counts = assert_counts_consistent(output, requested=2)
    assert counts["accepted"] == 2 and counts["rejected"] == 0
    log = server.request_log
    # Requests 1-3 are the first user turn: asked, re-asked twice, answered validly.
    assert all(is_user_sim_request(b) for b in log[:3])
    first, second, third = (b["messages"] for b in log[:3])
    assert len(first) == 1
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0] == first[0]
    assert second[1]["content"] == broken
    assert "not valid JSON" in second[2]["content"]
    assert "Invalid JSON" in second[2]["content"]  # the parser's own complaint
    assert [m["role"] for m in third] == ["user", "assistant", "user", "assistant", "user"]
    assert third[3]["content"] == wrong_shape
    assert "message" in third[4]["content"] and "Field required" in third[4]["content"]
    # The re-asked sample's usage counts all three user-simulator calls.
    records = read_jsonl(output / "samples.jsonl")
    calls = sorted(r["metadata"]["usage"]["calls"] for r in records)
    assert calls == [2, 4]
    assert server.stats.requests == 6


async def test_malformed_json_beyond_reask_budget_rejects_the_sample(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    max_reasks = 1
    server.malformed_next(max_reasks + 1)
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=1, concurrency=1, max_reasks=max_reasks)
    (plan,) = plans_of(spec)

    result = await run_dataset(spec)

    assert result.status == "completed"
    assert read_jsonl(output / "samples.jsonl") == []
    (reject,) = read_jsonl(output / "rejects.jsonl")
    assert reject["id"] == plan.id
    assert reject["status"] == "rejected"
    assert "malformed JSON" in reject["reason"]
    assert f"{max_reasks + 1} times" in reject["reason"]
    assert reject["plan"]["topic"] == plan.topic
    assert reject["usage"]["calls"] == max_reasks + 1
    # No assistant call was made for a dialogue that never got a user turn.
    assert server.stats.requests == max_reasks + 1
    assert all(is_user_sim_request(b) for b in server.request_log)
    counts = assert_counts_consistent(output, requested=1)
    assert counts == {"requested": 1, "accepted": 0, "rejected": 1, "failed": 0, "pending": 0}
    manifest = read_manifest(output)
    assert sum(manifest["reject_reasons"].values()) == 1
    assert manifest["reject_reasons"] == {"malformed_output": 1}
    assert "malformed JSON" in reject["reason"]


async def test_http_400_fails_one_sample_and_retry_failed_recovers_it(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    server.fail_next(400)
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=4, concurrency=2, max_retries=2)
    plan_ids = {p.id for p in plans_of(spec)}

    first = await run_dataset(spec)

    assert first.status == "completed"
    assert server.stats.status_counts[400] == 1
    counts = assert_counts_consistent(output, requested=4)
    assert counts == {"requested": 4, "accepted": 3, "rejected": 0, "failed": 1, "pending": 0}
    (failed,) = read_jsonl(output / "rejects.jsonl")
    assert failed["status"] == "failed"
    assert "HTTP 400" in failed["reason"]
    assert failed["id"] in plan_ids
    accepted_ids = {r["metadata"]["id"] for r in read_jsonl(output / "samples.jsonl")}
    assert failed["id"] not in accepted_ids
    # A 400 is not retried by the client: one request more than successful calls.
    assert server.stats.requests == read_manifest(output)["usage"]["calls"] + 1

    # A plain re-run leaves the failed sample alone ...
    server.reset_stats()
    plain = await run_dataset(spec)
    assert plain.new_samples == 0 and server.stats.requests == 0
    assert assert_counts_consistent(output, requested=4)["failed"] == 1

    # ... and --retry-failed attempts it again.
    second = await run_dataset(spec, retry_failed=True)

    assert second.status == "completed"
    assert second.new_samples == 1 and second.skipped == 3
    counts = assert_counts_consistent(output, requested=4)
    assert counts == {"requested": 4, "accepted": 4, "rejected": 0, "failed": 0, "pending": 0}
    assert read_jsonl(output / "rejects.jsonl") == []
    records = read_jsonl(output / "samples.jsonl")
    ids = [r["metadata"]["id"] for r in records]
    assert len(ids) == len(set(ids)) == 4
    assert set(ids) == plan_ids
    assert records[-1]["metadata"]["id"] == failed["id"]
    # Only the retried sample was sent to the endpoint: its calls are all the requests.
    assert server.stats.requests == records[-1]["metadata"]["usage"]["calls"] > 0
    topic = failed["plan"]["topic"]
    assert all(topic in json.dumps(b["messages"]) for b in server.request_log)
