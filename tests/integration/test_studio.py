"""`langgraph dev` serves every graph of langgraph.json; each runs through langgraph-sdk.

The dev server (langgraph-cli[inmem]) runs on loopback as a user starts it for Studio;
the graphs' roles reach the scripted OpenAI-compatible server over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.integration.conftest import spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`langgraph dev` on a free loopback port, from the repository's langgraph.json."""
    port = free_port()
    # The server keeps its state under ./.langgraph_api, so it runs outside the checkout,
    # on the repository's langgraph.json with its paths made absolute.
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    logs = workdir / "server.log"
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(ROOT / d) for d in config["dependencies"]]
    config["graphs"] = {name: str(ROOT / ref) for name, ref in config["graphs"].items()}
    (workdir / "langgraph.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    langgraph = Path(sys.executable).with_name("langgraph")
    args = [str(langgraph), "dev", "--no-browser", "--no-reload", "--allow-blocking"]
    with logs.open("w") as log:
        proc = subprocess.Popen(
            [
                *args,
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--config",
                "langgraph.json",
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, logs.read_text()
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "langgraph dev did not start:\n" + logs.read_text()
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_spec(tmp_path: Path, base_url: str, task: str) -> Path:
    text = spec_yaml(base_url, tmp_path / "run", samples=3, rounds=(1, 2))
    if task == "cot":
        text = text.replace("task: dialogue", "task: cot")
    outline = tmp_path / "outline.yaml"
    outline.write_text("Everyday health:\n  Sleep: [Insomnia, Napping]\n  Food: null\n")
    head, _, rest = text.partition("topics:\n")
    rest = rest.split("conditions:", 1)[1]
    text = (
        f"{head}concepts:\n  tree: {json.dumps(str(outline))}\n"
        "  expand: {max_depth: 3, children_per_node: 2, max_nodes: 12, max_calls: 4}\n"
        f"conditions:{rest}"
    )
    path = tmp_path / f"{task}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def run_graph(
    url: str, graph: str, spec: Path, index: int | None = None, *, configurable: bool = False
) -> dict[str, Any]:
    """One run on a new thread with an empty input; the spec in the context or configurable."""
    client = get_client(url=url)
    thread = await client.threads.create()
    given: dict[str, Any] = {"spec": str(spec)} | ({} if index is None else {"index": index})
    final = await client.runs.wait(
        thread["thread_id"],
        graph,
        input={},
        **({"config": {"configurable": given}} if configurable else {"context": given}),
    )
    assert isinstance(final, dict), final
    return final


async def test_the_dev_server_lists_every_graph_of_langgraph_json(dev_server: str) -> None:
    declared = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    client = get_client(url=dev_server)
    found = await client.assistants.search(limit=20)
    assert {a["graph_id"] for a in found} == set(declared) == {"dialogue", "cot", "expansion"}
    ids = {a["graph_id"]: a["assistant_id"] for a in found}
    for name in declared:
        schemas = await client.assistants.get_schemas(ids[name])
        context_schema = schemas["context_schema"]
        assert context_schema is not None
        assert context_schema["properties"] == {
            "spec": {"title": "Spec", "type": "string"},
            "index": {"title": "Index", "type": "integer"},
        }
        drawn = await client.assistants.get_graph(ids[name])
        assert {"plan", "play"} <= {n["id"] for n in drawn["nodes"]}


async def test_dialogue_plays_the_first_plan_from_an_empty_input(
    dev_server: str, scripted: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    from synthloom.planning import Planner
    from synthloom.run_tree import load_run_tree
    from synthloom.spec import load_spec

    spec_file = write_spec(tmp_path, scripted.base_url, "dialogue")
    final = await run_graph(dev_server, "dialogue", spec_file)
    spec = load_spec(spec_file)
    first = Planner(spec, load_run_tree(spec)).plan(0)
    assert final["plan"]["id"] == first.id and final["plan"]["topic"] == first.topic
    # Whether the scripted text passes every turn check is the checks' call, not Studio's.
    assert final["outcome"] in ("completed", "rejected"), final
    roles = [t["role"] for t in final["turns"]]
    if final["outcome"] == "completed":
        assert roles[0] == "user" and roles[-1] == "assistant" and len(roles) >= 2
    else:
        assert final["reason"] and roles[:1] == ["user"]
    assert final["usage"]["calls"] >= 2
    assert not (tmp_path / "run").exists()  # a Studio run writes no dataset
    # Streamed with subgraphs, as Studio shows a run, each turn arrives as it is made.
    client = get_client(url=dev_server)
    thread = await client.threads.create()
    steps = [
        (part.event, next(iter(part.data)))
        async for part in client.runs.stream(
            thread["thread_id"],
            "dialogue",
            input={},
            context={"spec": str(spec_file)},
            stream_mode="updates",
            stream_subgraphs=True,
        )
        if part.event.startswith("updates")
    ]
    inner = [node for event, node in steps if event.startswith("updates|play")]
    assert inner[:3] == ["ground", "simulate_user", "respond"]
    assert set(inner) <= {"ground", "simulate_user", "respond", "finish"}
    assert [node for event, node in steps if event == "updates"] == ["plan", "play"]
    # `index` picks another plan; the spec may come in `configurable` as well.
    other = await run_graph(dev_server, "dialogue", spec_file, 2, configurable=True)
    assert other["plan"]["index"] == 2


async def test_cot_and_expansion_run_through_the_sdk(
    dev_server: str, scripted: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    cot = await run_graph(dev_server, "cot", write_spec(tmp_path, scripted.base_url, "cot"))
    assert cot["plan"]["index"] == 0
    assert cot["question"] and cot["usage"]["calls"] >= 2
    assert cot["outcome"] in ("completed", "rejected")
    if cot["outcome"] == "completed":
        assert cot["steps"] and cot["answer"]
    grown = await run_graph(
        dev_server, "expansion", write_spec(tmp_path, scripted.base_url, "dialogue")
    )
    assert grown["base"] and grown["calls"] >= 1
    assert grown["stop_reason"] in ("complete", "max_nodes", "max_calls")
    assert len(grown["added"]) + len(grown["rejections"]) + len(grown["failures"]) >= 1
