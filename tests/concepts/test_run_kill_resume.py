"""`synthloom run` SIGKILLed while it grows its concept tree, then run again: the pinned
tree equals an uninterrupted run's, finished batches are not asked again, and the
samples planned over it are all there once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from synthloom.spec import parse_spec
from tests.concepts.scripted import taxonomy_for
from tests.integration.conftest import cli, cli_popen, read_jsonl, run_dataset, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

SAMPLES = 6
# 3 seeds → 24 children → 192 grandchildren: 27 expander calls in batches of 4.
EXPAND = "{max_depth: 3, children_per_node: 8, max_nodes: 1000, batch_size: 4, concurrency: 2}"
CALLS = 27


def is_expansion(body: dict[str, Any]) -> bool:
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    return bool(schema.get("name") == "ChildProposals")


def propose(body: dict[str, Any]) -> str | None:
    """Distinct children of whichever parent the expander prompt names."""
    if not is_expansion(body):
        return None
    return taxonomy_for("\n".join(str(m.get("content", "")) for m in body["messages"]))


def write_spec(base_url: str, folder: Path) -> Path:
    text = spec_yaml(base_url, folder / "run", samples=SAMPLES, concurrency=2)
    head, _, rest = text.partition("topics:\n")
    text = (
        f"{head}concepts:\n  root: Chronic disease care\n"
        "  seeds: [Hypertension, Type 2 diabetes, Asthma]\n"
        f"  expand: {EXPAND}\nconditions:{rest.split('conditions:', 1)[1]}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def expansion_calls(server: ScriptedOpenAIServer) -> int:
    return sum(1 for body in server.request_log if is_expansion(body))


def structure(path: Path) -> tuple[list[Any], list[Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["nodes"], data["edges"]


async def test_a_run_killed_mid_expansion_resumes_to_the_uninterrupted_tree(
    tmp_path: Path,
) -> None:
    with ScriptedOpenAIServer(responder=propose, latency=0.05) as server:
        spec_path = write_spec(server.base_url, tmp_path / "killed")
        proc = cli_popen("run", str(spec_path), "--no-progress", cwd=tmp_path)
        deadline = time.monotonic() + 60
        while expansion_calls(server) < 10:  # two batches of four checkpointed, a third going
            assert proc.poll() is None, f"run ended before the kill: {proc.communicate()}"
            assert time.monotonic() < deadline, "expansion made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        run = tmp_path / "killed" / "run"
        assert not (run / "concepts.json").exists()  # the tree is pinned only when grown
        assert not (run / "samples.jsonl").exists() or not read_jsonl(run / "samples.jsonl")

        before = expansion_calls(server)
        done = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        # The run ends with how evenly the samples sit on the grown tree's 192 leaves.
        assert "accepted per leaf over 192 leaves" in done.stderr, done.stderr
        assert f"synthloom tree show --run {run}" in done.stderr
        resumed_calls = expansion_calls(server) - before
        assert 0 < resumed_calls < CALLS  # finished batches were not asked again

        fresh = parse_spec(write_spec(server.base_url, tmp_path / "fresh").read_text("utf-8"))
        before = expansion_calls(server)
        await run_dataset(fresh)
        assert expansion_calls(server) - before == CALLS

    resumed_nodes, resumed_edges = structure(run / "concepts.json")
    fresh_nodes, fresh_edges = structure(fresh.output / "concepts.json")
    assert resumed_nodes == fresh_nodes and resumed_edges == fresh_edges
    assert len(resumed_nodes) == 1 + 3 + 24 + 192
    # The samples were planned over the grown tree's leaves, each once.
    resumed = read_jsonl(run / "samples.jsonl")
    uninterrupted = read_jsonl(fresh.output / "samples.jsonl")
    ids = [r["metadata"]["id"] for r in resumed]
    assert len(ids) == len(set(ids)) == SAMPLES
    assert sorted(ids) == sorted(r["metadata"]["id"] for r in uninterrupted)
    leaves = {n["id"] for n in resumed_nodes if n["depth"] == 3}
    assert {r["metadata"]["leaf"] for r in resumed} <= leaves
