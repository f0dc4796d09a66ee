"""Runs on a real multi-node Ray cluster: a worker node lost mid-run costs no sample.

One local cluster (`ray.cluster_utils.Cluster`: a head with no CPUs, so every worker
lands on a worker node) serves the module; each test adds two one-CPU worker nodes,
so two worker actors, one per node, and removes one of them (processes killed, no
goodbye) while dialogues are in flight on it. Sized for a 2-core CI machine:
`SAMPLES` dialogues of 3 rounds (6 calls each) against the scripted HTTP server,
with enough latency per call that the node dies mid-dialogue; the 500-dialogue
figure of the issue is the benchmark's (benchmarks/bench_ray.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.cluster_utils import Cluster

from agents.endpoints import open_models
from synthloom.execution.driver import RayDatasetRun
from synthloom.execution.worker import WORKER_CHECKPOINTS
from synthloom.runner import RunResult
from synthloom.spec import RunSpec
from tests.integration.conftest import (
    ROLES,
    assert_counts_consistent,
    make_spec,
    plans_of,
    read_jsonl,
    read_manifest,
)
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.postgres import postgres_server

pytestmark = pytest.mark.integration

SAMPLES = 80
ROUNDS = 3
CALLS_PER_DIALOGUE = 2 * ROUNDS  # one user-simulator and one assistant call per round
NODE_MEMORY = 80 * 1024 * 1024
CONCURRENCY = 16
# Worker actor processes the tests started: none may outlive the cluster.
WORKER_PIDS: list[int] = []


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head node this test process drives from; worker nodes come and go per test."""
    head = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "object_store_memory": NODE_MEMORY,
        },
    )
    session = ""
    try:
        ray.init(address=head.address, log_to_driver=False, logging_level=logging.ERROR)
        assert head.head_node is not None
        session = head.head_node.get_session_dir_path()
        yield head
    finally:
        ray.shutdown()
        head.shutdown()  # type: ignore[no-untyped-call]
    # No raylet or worker of this cluster may outlive it (they would eat the CPUs).
    assert_no_processes_of(session, WORKER_PIDS)


def assert_no_processes_of(session_dir: str, workers: list[int], wait_s: float = 15.0) -> None:
    """The cluster's processes (named by its session folder) and its workers have exited."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [
            pid
            for pid, line in _command_lines()
            if session_dir in line or (pid in workers and line.startswith("ray::"))
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"Ray processes outlived the cluster: {left}"


def _command_lines() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            yield int(entry.name), raw.replace(b"\0", b" ").decode(errors="replace")


def add_worker_nodes(cluster: Cluster, count: int = 2) -> list[Any]:
    nodes = [
        cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY, include_dashboard=False)
        for _ in range(count)
    ]
    cluster.wait_for_nodes()
    return nodes


def ray_spec(base_url: str, output: Path, address: str, **extra: Any) -> RunSpec:
    spec = make_spec(
        base_url, output, samples=SAMPLES, concurrency=CONCURRENCY, rounds=(ROUNDS, ROUNDS)
    )
    return spec.model_validate(
        {**spec.model_dump(), "execution": {"ray": address, "workers": 2}, **extra}
    )


async def run_losing_a_node(
    spec: RunSpec, cluster: Cluster, victim: Any, server: ScriptedOpenAIServer
) -> RayDatasetRun:
    """Run the spec on the cluster and remove `victim` half-way through a wave of dialogues.

    Same-length dialogues started together move in step: cutting at a number of calls
    (a wave and a half) leaves those in flight on the node with half their turns done.
    """
    cut_at = CONCURRENCY * CALLS_PER_DIALOGUE * 3 // 2
    with open_models(spec, ROLES) as models:
        job = RayDatasetRun(spec, models, show_progress=False)

        async def cut() -> None:
            while server.requests < cut_at:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(cluster.remove_node, victim, False)

        cutter = asyncio.ensure_future(cut())
        try:
            result = await job.run()
        finally:
            cutter.cancel()
            if job.pool is not None:
                WORKER_PIDS.extend(job.pool.stats.pids)
        assert cutter.done() or cutter.cancelled()
    job.result = result  # type: ignore[attr-defined]
    return job


def assert_each_planned_id_once(spec: RunSpec, result: RunResult) -> dict[str, Any]:
    output = spec.output
    assert result.status == "completed", result
    planned = {p.id for p in plans_of(spec)}
    accepted = [r["metadata"]["id"] for r in read_jsonl(output / "samples.jsonl")]
    rejected = [r["id"] for r in read_jsonl(output / "rejects.jsonl")]
    written = accepted + rejected
    assert len(written) == len(set(written)), "a sample was written twice"
    assert set(written) == planned
    counts = assert_counts_consistent(output, requested=SAMPLES)
    assert counts["pending"] == 0
    manifest = read_manifest(output)
    assert manifest["status"] == "completed"
    execution: dict[str, Any] = manifest["execution"]
    assert execution["nodes"] == 2 and execution["workers_lost"] == 1
    # The dialogues in flight on the lost node were dealt again, and counted.
    assert execution["rerun"] >= 1
    assert not (output / WORKER_CHECKPOINTS).exists()  # completed: nothing left to resume
    return execution


async def test_a_lost_worker_node_costs_no_sample_and_duplicates_none(
    cluster: Cluster, tmp_path: Path
) -> None:
    nodes = add_worker_nodes(cluster)
    try:
        with ScriptedOpenAIServer(latency=0.05) as server:
            spec = ray_spec(server.base_url, tmp_path / "run", cluster.address)
            job = await run_losing_a_node(spec, cluster, nodes[1], server)
            execution = assert_each_planned_id_once(spec, job.result)  # type: ignore[attr-defined]
            # Its own SQLite file went with the node: cut dialogues started over elsewhere,
            # repeating the turns they had made.
            assert execution["resumed"] == 0
            assert server.requests > SAMPLES * CALLS_PER_DIALOGUE + execution["rerun"]
    finally:
        for node in nodes[:1]:
            cluster.remove_node(node)


async def test_with_postgres_a_dialogue_cut_on_a_lost_node_resumes_from_its_last_turn(
    cluster: Cluster, tmp_path: Path
) -> None:
    with postgres_server() as dsn:
        nodes = add_worker_nodes(cluster)
        try:
            with ScriptedOpenAIServer(latency=0.05) as server:
                spec = ray_spec(
                    server.base_url,
                    tmp_path / "run",
                    cluster.address,
                    checkpointer={"postgres": dsn},
                )
                job = await run_losing_a_node(spec, cluster, nodes[1], server)
                execution = assert_each_planned_id_once(spec, job.result)  # type: ignore[attr-defined]
                calls = server.requests
        finally:
            for node in nodes[:1]:
                cluster.remove_node(node)
    # Dialogues cut mid-way went on, on the surviving node, from their last checkpoint.
    assert execution["resumed"] >= 1 and execution["resumed_turns"] >= 1
    # A restart from scratch would have repeated every turn they had; here only the
    # call in flight at the cut (and one checkpoint still being written) is repeated.
    extra = calls - SAMPLES * CALLS_PER_DIALOGUE
    assert extra <= 2 * execution["rerun"], json.dumps([calls, execution])
    assert extra < execution["resumed_turns"], (calls, execution)
