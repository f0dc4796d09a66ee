"""Runs on a real multi-node Ray cluster: a worker node lost mid-run costs no sample.

One local cluster (`ray.cluster_utils.Cluster`: a head with no CPUs, so every worker
lands on a worker node) serves the module, with one one-CPU worker node all tests
share. Each fault test adds a second one-CPU node, so two worker actors, one per
node, and removes it (processes killed, no goodbye) while dialogues are in flight
on it: 500 dialogues of one round with SQLite checkpoints, 80 of 3 rounds with
Postgres (long enough to be cut mid-way and go on from the last turn), against the
scripted HTTP server. Curation's judge calls fan out over two workers on the shared
node and decide what a pass in this process decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    cli,
    cli_popen,
    make_spec,
    plans_of,
    read_jsonl,
    read_manifest,
    run_dataset,
    spec_yaml,
)
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.postgres import postgres_server

pytestmark = pytest.mark.integration

SAMPLES = 80
ROUNDS = 3
NODE_MEMORY = 80 * 1024 * 1024
CONCURRENCY = 16
# Worker actor processes the tests started: none may outlive the cluster.
WORKER_PIDS: list[int] = []


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head node this test process drives from, and one worker node every test shares.

    A fault test adds one more node (its victim) and removes it mid-run; the shared
    node stays, so the module starts three nodes in all instead of two per test.
    """
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
        add_worker_node(head)
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


def add_worker_node(cluster: Cluster) -> Any:
    node = cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY, include_dashboard=False)
    cluster.wait_for_nodes()
    return node


@contextmanager
def victim_node(cluster: Cluster) -> Iterator[Any]:
    """A second worker node for one test, to be removed mid-run (or at the end)."""
    node = add_worker_node(cluster)
    try:
        yield node
    finally:
        if node in cluster.worker_nodes:
            cluster.remove_node(node)


@dataclass(frozen=True)
class Size:
    """A fault test's dialogues: how many, of how many rounds, how many in flight."""

    samples: int
    rounds: int
    concurrency: int
    cut_share: float | None = None
    """Remove the node after this share of the calls (None: a wave and a half in)."""

    @property
    def calls(self) -> int:
        return self.samples * 2 * self.rounds  # a user-simulator and an assistant call a round

    @property
    def cut_at(self) -> int:
        """Same-length dialogues started together move in step: a wave and a half in,
        those in flight on the node have half their turns done. Later in a long run the
        survivor has less left to do alone."""
        if self.cut_share is not None:
            return int(self.calls * self.cut_share)
        return self.concurrency * 2 * self.rounds * 3 // 2


# The 500 dialogues, of one round (1,000 calls): a lost node at scale.
BIG = Size(samples=500, rounds=1, concurrency=32, cut_share=0.6)
# Resuming from the last turn needs dialogues long enough to be cut mid-way.
LONG = Size(samples=SAMPLES, rounds=ROUNDS, concurrency=CONCURRENCY)


def ray_spec(base_url: str, output: Path, address: str, size: Size, **extra: Any) -> RunSpec:
    spec = make_spec(
        base_url,
        output,
        samples=size.samples,
        concurrency=size.concurrency,
        rounds=(size.rounds, size.rounds),
    )
    return spec.model_validate(
        {**spec.model_dump(), "execution": {"ray": address, "workers": 2}, **extra}
    )


async def run_losing_a_node(
    spec: RunSpec, cluster: Cluster, victim: Any, server: ScriptedOpenAIServer, size: Size
) -> RayDatasetRun:
    """Run the spec on the cluster and remove `victim` with dialogues in flight on it."""
    cut_at = size.cut_at
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
    counts = assert_counts_consistent(output, requested=spec.samples)
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
    with victim_node(cluster) as victim, ScriptedOpenAIServer(latency=0.05) as server:
        spec = ray_spec(server.base_url, tmp_path / "run", cluster.address, BIG)
        job = await run_losing_a_node(spec, cluster, victim, server, BIG)
        execution = assert_each_planned_id_once(spec, job.result)  # type: ignore[attr-defined]
        # Its own SQLite file went with the node: cut dialogues started over elsewhere,
        # repeating whatever turns they had made there (none, for one dealt but not begun).
        assert execution["resumed"] == 0
        assert server.requests >= BIG.calls
        # Both workers ran samples: the survivor took the lost one's plans.
        assert len(execution["samples_per_worker"]) >= 2


async def test_with_postgres_a_dialogue_cut_on_a_lost_node_resumes_from_its_last_turn(
    cluster: Cluster, tmp_path: Path
) -> None:
    with (
        postgres_server() as dsn,
        victim_node(cluster) as victim,
        ScriptedOpenAIServer(latency=0.05) as server,
    ):
        spec = ray_spec(
            server.base_url, tmp_path / "run", cluster.address, LONG, checkpointer={"postgres": dsn}
        )
        job = await run_losing_a_node(spec, cluster, victim, server, LONG)
        execution = assert_each_planned_id_once(spec, job.result)  # type: ignore[attr-defined]
        calls = server.requests
    # Dialogues cut mid-way went on, on the surviving node, from their last checkpoint.
    assert execution["resumed"] >= 1 and execution["resumed_turns"] >= 1
    # A restart from scratch would have repeated every turn they had; here only the
    # call in flight at the cut (and one checkpoint still being written) is repeated.
    extra = calls - LONG.calls
    assert extra <= 2 * execution["rerun"], json.dumps([calls, execution])
    assert extra < execution["resumed_turns"], (calls, execution)


CURATE = {
    "judge": {"enabled": True, "min_score": 1},
    "labels": {"enabled": True},
    "faithfulness": {"enabled": False},
    "dedup": {"semantic": False},
}


def curated_view(run: Path) -> dict[str, Any]:
    """What a curation pass decided, without what differs between two passes."""
    kept = {
        r["metadata"]["id"]: {k: v for k, v in r["metadata"]["curation"].items()}
        for r in read_jsonl(run / "curated" / "samples.jsonl")
    }
    for annotation in kept.values():
        for block in ("judge", "labels"):
            if isinstance(annotation.get(block), dict):
                annotation[block].pop("cached", None)
    rejected = sorted(r["id"] for r in read_jsonl(run / "curated" / "rejects.jsonl"))
    return {"kept": kept, "rejected": rejected}


async def test_curation_judges_on_the_ray_workers_as_it_would_here(
    cluster: Cluster, tmp_path: Path
) -> None:
    from synthloom.cli_curate import run_curation
    from synthloom.curate.config import CurateSpec
    from synthloom.execution.config import ExecutionSpec

    with ScriptedOpenAIServer(latency=0.02) as server:
        spec = make_spec(
            server.base_url, tmp_path / "run", samples=24, concurrency=8, rounds=(1, 1)
        )
        spec = spec.model_validate({**spec.model_dump(), "curate": CURATE})
        assert spec.curate is not None
        result = await asyncio.to_thread(asyncio.run, run_dataset(spec))
        assert result.status == "completed"
        shutil.copytree(spec.output, tmp_path / "here")
        settings = CurateSpec.model_validate(CURATE)
        # Two judge workers on the shared one-CPU node (half a CPU each).
        on_ray = ExecutionSpec(ray=cluster.address, workers=2, worker_cpus=0.5)
        before = server.requests
        await asyncio.to_thread(run_curation, spec.output, settings, spec, execution=on_ray)
        remote_calls = server.requests - before
        await asyncio.to_thread(
            run_curation, tmp_path / "here", settings, spec, execution=ExecutionSpec()
        )
    curation = json.loads((spec.output / "curated" / "curation.json").read_text())
    execution = curation["execution"]
    assert execution["workers"] == 2
    # Every judge call of the pass ran on a worker, and both workers had a share.
    per_worker = execution["calls_per_worker"]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values())
    assert sum(per_worker.values()) == remote_calls == curation["judge_usage"]["calls"]
    judged = next(b["seen"] for b in curation["blocks"] if b["name"] == "judge")
    assert judged >= 12 and remote_calls == 2 * judged  # a rubric and a labels call each
    here = json.loads((tmp_path / "here" / "curated" / "curation.json").read_text())
    assert "execution" not in here
    # The same verdicts as a pass in this process, and counts that add up the same.
    assert curation["counts"] == here["counts"]
    assert curated_view(spec.output) == curated_view(tmp_path / "here")


async def test_a_budget_stop_cancels_the_samples_on_the_workers_and_a_resume_finishes(
    cluster: Cluster, tmp_path: Path
) -> None:
    with ScriptedOpenAIServer(latency=0.2) as server:
        spec = make_spec(
            server.base_url, tmp_path / "run", samples=24, concurrency=8, rounds=(1, 4)
        )
        execution = {"ray": cluster.address, "workers": 2, "worker_cpus": 0.5}
        stopping = spec.model_validate(
            {**spec.model_dump(), "execution": execution, "budget": {"max_tokens": 1}}
        )
        with open_models(stopping, ROLES) as models:
            job = RayDatasetRun(stopping, models, show_progress=False)
            began = time.monotonic()
            result = await job.run()
            WORKER_PIDS.extend(job.pool.stats.pids if job.pool is not None else [])
        # The first outcomes spend the budget: the dialogues still going (up to 4 rounds
        # of 0.4 s) are cancelled on the workers, not waited for.
        assert result.status == "stopped" and "token budget" in str(result.stopped_because)
        assert time.monotonic() - began < 60
        counts = assert_counts_consistent(spec.output, requested=24)
        # Fewer finished than the 8 dealt at once: the rest were cancelled where they ran.
        assert 1 <= counts["accepted"] + counts["rejected"] < 8
        written = [r["metadata"]["id"] for r in read_jsonl(spec.output / "samples.jsonl")]
        assert len(written) == len(set(written))
        # The same folder finishes in this process: where a sample ran is not in the data.
        again = await run_dataset(spec)
    assert again.status == "completed" and again.skipped == len(written) + counts["rejected"]
    planned = {p.id for p in plans_of(spec)}
    accepted = [r["metadata"]["id"] for r in read_jsonl(spec.output / "samples.jsonl")]
    rejected = [r["id"] for r in read_jsonl(spec.output / "rejects.jsonl")]
    assert (
        len(accepted + rejected) == len(set(accepted + rejected))
        and set(accepted + rejected) == planned
    )
    assert assert_counts_consistent(spec.output, requested=24)["pending"] == 0


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_driver_killed_mid_run_resumes_with_ray_local(cluster: Cluster, tmp_path: Path) -> None:
    output = tmp_path / "run"
    spec_path = tmp_path / "spec.yaml"
    samples = 16
    with ScriptedOpenAIServer(latency=0.1) as server:
        # Two workers of half a CPU on the shared node: the killed run joins this cluster.
        text = spec_yaml(server.base_url, output, samples=samples, concurrency=4)
        spec_path.write_text(text + "execution: {worker_cpus: 0.5}\n")
        proc = cli_popen(
            "run", str(spec_path), "--no-progress", "--ray", cluster.address, "--workers", "2",
            cwd=tmp_path,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while line_count(output / "samples.jsonl") < 3:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the Ray run made no progress"
            time.sleep(0.02)
        time.sleep(random.Random(3).uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        before = line_count(output / "samples.jsonl")
        assert 3 <= before < samples
        assert read_manifest(output)["status"] == "running"  # what a kill leaves

        # `--ray local`, and another number of workers: where a sample runs is not data.
        again = cli(
            "run", str(spec_path), "--no-progress", "--ray", "local", "--workers", "1",
            cwd=tmp_path, timeout=240,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        done = re.search(r"\((\d+) already done\)", again.stderr)
        assert done is not None and int(done.group(1)) >= before, again.stderr
    spec = make_spec(server.base_url, output, samples=samples, concurrency=4)
    ids = [r["metadata"]["id"] for r in read_jsonl(output / "samples.jsonl")]
    rejected = [r["id"] for r in read_jsonl(output / "rejects.jsonl")]
    assert len(ids + rejected) == len(set(ids + rejected)), "a sample was written twice"
    assert set(ids + rejected) == {p.id for p in plans_of(spec)}
    manifest = read_manifest(output)
    assert manifest["status"] == "completed"
    assert manifest["execution"]["workers"] == 1 and manifest["execution"]["ray"] == "local"
    assert assert_counts_consistent(output, requested=samples)["pending"] == 0


def test_ingest_embeds_on_the_ray_workers_and_writes_the_same_base(
    cluster: Cluster, tmp_path: Path
) -> None:
    from knowledge.ingest import ingest
    from knowledge.spec import KnowledgeSpec
    from knowledge.store import KnowledgeStore
    from synthloom.execution.config import ExecutionSpec
    from synthloom.execution.embedding import embedding_on_ray

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = "sleep shift light caffeine nap schedule rest body clock dark room".split()
    for n in range(4):
        lines = [
            f"Note {n}.{i}: " + " ".join(words[(n + i + k) % len(words)] for k in range(30))
            for i in range(12)
        ]
        (corpus / f"note-{n}.md").write_text("\n\n".join(lines), encoding="utf-8")

    def stored(store: KnowledgeStore) -> dict[str, Any]:
        got = store.knowledge.get(include=["embeddings"])
        vectors = got["embeddings"]
        assert vectors is not None
        return dict(zip(got["ids"], list(vectors), strict=True))

    here_spec = KnowledgeSpec(path=tmp_path / "here", chunk_size=200, chunk_overlap=0)
    with KnowledgeStore(here_spec) as store:
        here = ingest(store, [corpus], write_batch=8)
        here_vectors = stored(store)
    ray_spec_ = KnowledgeSpec(path=tmp_path / "ray", chunk_size=200, chunk_overlap=0)
    on_ray = ExecutionSpec(ray=cluster.address, workers=2, worker_cpus=0.5)
    with (
        KnowledgeStore(ray_spec_) as store,
        embedding_on_ray(ray_spec_, on_ray, store.embeddings) as where,
    ):
        fanned = ingest(
            store, [corpus], write_batch=8, embed_many=where.embed_many, fan_out=where.fan_out
        )
        ray_vectors = stored(store)
    # Both workers embedded batches; none fell back to this process.
    assert where.workers == 2 and len(where.batches) == 2 and where.here == 0
    assert sum(where.batches.values()) * 8 >= here.added > 8
    assert (fanned.files, fanned.chunks, fanned.added) == (here.files, here.chunks, here.added)
    assert ray_vectors.keys() == here_vectors.keys()
    for key, vector in here_vectors.items():
        assert max(abs(a - b) for a, b in zip(vector, ray_vectors[key], strict=True)) < 1e-4
