"""A whole dataset run over real HTTP: records, ids, manifest and prompts on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthloom.core.errors import EndpointError
from synthloom.spec import RunSpec, parse_spec
from tests.integration.conftest import (
    assert_chat_record,
    assert_counts_consistent,
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


@pytest.mark.parametrize("include_system_prompt", [True, False])
async def test_full_run_writes_openai_chat_records_for_every_plan(
    server: ScriptedOpenAIServer, tmp_path: Path, include_system_prompt: bool
) -> None:
    output = tmp_path / "run"
    spec = make_spec(
        server.base_url,
        output,
        samples=6,
        concurrency=3,
        include_system_prompt=include_system_prompt,
    )
    plans = {p.id: p for p in plans_of(spec)}
    assert len(plans) == 6

    result = await run_dataset(spec)

    assert result.status == "completed"
    assert result.new_samples == 6
    records = read_jsonl(output / "samples.jsonl")
    assert len(records) == 6
    ids = [r["metadata"]["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert set(ids) == set(plans)
    for record in records:
        plan = plans[record["metadata"]["id"]]
        assert_chat_record(record, spec, plan)
        assert (record["messages"][0]["role"] == "system") is include_system_prompt
    assert read_jsonl(output / "rejects.jsonl") == []

    manifest = read_manifest(output)
    assert manifest["status"] == "completed"
    counts = assert_counts_consistent(output, requested=6)
    assert counts == {"requested": 6, "accepted": 6, "rejected": 0, "failed": 0, "pending": 0}
    # Usage in the manifest is the sum over the records, and every call was a 200.
    record_tokens = sum(r["metadata"]["usage"]["total_tokens"] for r in records)
    record_calls = sum(r["metadata"]["usage"]["calls"] for r in records)
    assert manifest["usage"]["total_tokens"] == record_tokens > 0
    assert manifest["usage"]["calls"] == record_calls == server.stats.requests
    assert server.stats.status_counts == {200: record_calls}
    # Each dialogue is one user-simulator call plus one assistant call per round.
    assert record_calls == sum(2 * r["metadata"]["rounds"] for r in records)


async def test_prompts_on_the_wire_carry_the_plan(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=5, concurrency=2)
    plans = plans_of(spec)

    await run_dataset(spec)

    log = server.request_log
    user_prompts = [b["messages"][0]["content"] for b in log if is_user_sim_request(b)]
    assistant_calls = [b for b in log if not is_user_sim_request(b)]
    assert user_prompts and assistant_calls
    for body in log:
        if is_user_sim_request(body):
            fmt = body["response_format"]
            assert fmt["type"] == "json_schema"
            schema = fmt["json_schema"]["schema"]
            assert {"message", "end_conversation"} <= set(schema["properties"])
    for plan in plans:
        # The simulated user is told the plan's topic and every sampled condition value.
        matching = [
            p
            for p in user_prompts
            if plan.topic in p and all(v in p for v in plan.conditions.values())
        ]
        assert matching, f"no user-simulator prompt carried plan {plan.index}"
    # Every assistant call opens with the system prompt, naming the topic of some plan.
    topics = {p.topic for p in plans}
    for body in assistant_calls:
        first = body["messages"][0]
        assert first["role"] == "system"
        assert spec.dialogue.assistant_system_prompt in first["content"]
        assert any(t in first["content"] for t in topics)
        assert body["messages"][-1]["role"] == "user"
    # Records carry the user turns the simulator produced (its JSON `message`), verbatim.
    records = read_jsonl(output / "samples.jsonl")
    first_user_turns = {r["messages"][1]["content"] for r in records}
    sent_as_history = {
        m["content"] for b in assistant_calls for m in b["messages"] if m["role"] == "user"
    }
    assert first_user_turns <= sent_as_history
    assert not any(t.lstrip().startswith("{") for t in first_user_turns), json.dumps(
        sorted(first_user_turns)
    )


async def test_rerun_of_a_finished_run_makes_no_requests(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=3, concurrency=2)
    await run_dataset(spec)
    before = (output / "samples.jsonl").read_bytes()
    server.reset_stats()

    again = await run_dataset(spec)

    assert again.skipped == 3 and again.new_samples == 0
    assert server.stats.requests == 0
    assert (output / "samples.jsonl").read_bytes() == before
    assert assert_counts_consistent(output, requested=3)["accepted"] == 3


def replica_spec(base_url: str, replicas: list[str], output: Path, samples: int) -> RunSpec:
    """The integration spec with `replicas` beside its `base_url`."""
    text = spec_yaml(base_url, output, samples=samples, concurrency=4)
    line = f"    base_url: {json.dumps(base_url)}\n"
    return parse_spec(text.replace(line, f"{line}    replicas: {json.dumps(replicas)}\n"))


async def test_replica_servers_share_the_samples(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    with ScriptedOpenAIServer() as replica:
        spec = replica_spec(server.base_url, [replica.base_url], tmp_path / "run", samples=12)
        before = server.requests
        result = await run_dataset(spec)
        served = (server.requests - before, replica.requests)
    counts = assert_counts_consistent(tmp_path / "run", 12)
    assert counts["accepted"] == 12 and result.counts.usage.calls == sum(served)
    assert min(served) > 0  # both servers did part of the work


async def test_an_unreachable_replica_is_named_before_anything_runs(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    dead = "http://127.0.0.1:9/v1"
    spec = replica_spec(server.base_url, [dead], tmp_path / "run", samples=2)
    with pytest.raises(
        EndpointError, match=rf"models.user_simulator: endpoint {dead} is unreachable"
    ):
        await run_dataset(spec)
    assert not (tmp_path / "run").exists()
