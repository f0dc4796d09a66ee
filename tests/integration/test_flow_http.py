"""Flows over real HTTP: the shared 429 cool-down, usage metered, cost budget held."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from agents.flow import FlowSettings, Traffic
from agents.llm import make_chat_model
from synthloom.core.modelspec import ModelSpec
from synthloom.spec import parse_spec
from tests.integration.conftest import run_dataset, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

PRICING = """\
pricing:
  models:
    scripted-model: {input_per_1m: 1000.0, cached_input_per_1m: 100.0, output_per_1m: 4000.0}
"""


def test_a_429_with_retry_after_pauses_the_other_workers(server: ScriptedOpenAIServer) -> None:
    spec = ModelSpec(provider="openai", base_url=server.base_url, model="m", max_retries=2)
    traffic = Traffic(FlowSettings(fixed=8))
    first, second = make_chat_model(spec, traffic=traffic), make_chat_model(spec, traffic=traffic)
    server.fail_next(429, retry_after=0.8)

    flow = traffic.flow(server.base_url)

    async def after_the_429() -> tuple[float, float]:
        while not flow.throttled:  # the first model's request has had its 429
            await asyncio.sleep(0.01)
        seen = time.monotonic()
        await second.ainvoke([HumanMessage("hello")])
        return seen, time.monotonic()

    async def both() -> tuple[float, float]:
        _, (seen, done) = await asyncio.gather(
            first.ainvoke([HumanMessage("hello")]), after_the_429()
        )
        return seen, done

    seen, done = asyncio.run(both())
    # The second model's request waited out the first one's Retry-After (less the poll).
    assert done - seen >= 0.7
    assert server.status_counts == {429: 1, 200: 2}
    assert (flow.calls, flow.throttled) == (3, 1)
    calls, prompt, cached, completion = traffic.meter.total.models["m"]
    assert calls == 2 and prompt > 0 and completion > 0 and cached == 0


def test_cost_budget_is_held_at_concurrency_64(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(latency=0.02) as server:
        text = spec_yaml(server.base_url, tmp_path / "run", samples=400, concurrency=64)
        text = text.replace("concurrency: 64\n", "concurrency: 64\ncheckpointer: none\n")
        spec = parse_spec(text + PRICING + "budget: {max_cost: 100.0}\n", source="spec.yaml")
        result = asyncio.run(run_dataset(spec))
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    cost = manifest["cost"]
    finished = result.counts.accepted + result.counts.rejected + result.counts.failed
    per_sample = cost["spent"] / finished
    assert result.status == "stopped" and "cost budget reached" in str(result.stopped_because)
    assert cost["spent"] <= max(100.0 * 1.05, 100.0 + per_sample)
    assert cost["spent"] >= 100.0 - 3 * per_sample  # it did not stop far short either
    assert cost["per_accepted"] == round(cost["spent"] / result.counts.accepted, 6)
    assert cost["models"]["scripted-model"]["calls"] == result.counts.usage.calls
    assert manifest["concurrency"]["setting"] == "64"


def test_auto_concurrency_is_recorded(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(latency=0.01) as server:
        text = spec_yaml(server.base_url, tmp_path / "run", samples=12, concurrency=2)
        spec = parse_spec(text.replace("concurrency: 2\n", "concurrency: auto\n"))
        result = asyncio.run(run_dataset(spec))
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert result.status == "completed"
    (endpoint,) = manifest["concurrency"]["endpoints"].values()
    assert manifest["concurrency"]["setting"] == "auto"
    assert endpoint["mode"] == "auto" and endpoint["calls"] == result.counts.usage.calls
    assert manifest["cost"]["unpriced"] == ["scripted-model"]
    assert manifest["cost"]["spent"] is None


def test_run_json_splits_calls_and_money_by_stage(tmp_path: Path) -> None:
    from tests.integration.conftest import is_user_sim_request

    assistant_calls = 0

    def blank_then_fine(body: dict[str, object]) -> str | None:
        nonlocal assistant_calls
        if is_user_sim_request(body):
            return None
        assistant_calls += 1  # every first answer is blank: the check asks again
        return " " if assistant_calls % 2 else "Keep the room dark and cool; nap before a shift."

    with ScriptedOpenAIServer(responder=blank_then_fine) as server:
        text = spec_yaml(server.base_url, tmp_path / "run", samples=3, concurrency=1, rounds=(1, 1))
        spec = parse_spec(text + PRICING, source="spec.yaml")
        result = asyncio.run(run_dataset(spec))
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").open()]
    stages = manifest["cost"]["stages"]
    assert result.status == "completed" and len(samples) == 3
    regenerated = sum(s["metadata"]["regenerations"] for s in samples)
    assert regenerated == 3 and stages["regeneration"]["calls"] == regenerated
    assert stages["generation"]["calls"] == 6  # each sample's person and first answer
    assert sum(s["calls"] for s in stages.values()) == result.counts.usage.calls
    assert sum(s["tokens"] for s in stages.values()) == result.counts.usage.total_tokens
    assert sum(s["cost"] for s in stages.values()) == pytest.approx(manifest["cost"]["spent"])
    # The report carries the same split, with curation's judges as one more stage.
    from synthloom.curate.rundata import load_run
    from synthloom.report.build import build_report
    from synthloom.report.lexical import HashedNgramEmbeddings

    report = build_report(load_run(tmp_path / "run"), embedder=HashedNgramEmbeddings())
    assert report["cost"]["stages"]["regeneration"] == stages["regeneration"]
    assert report["cost"]["stages"]["curation_judges"] == {"calls": 0, "tokens": 0, "cost": None}
