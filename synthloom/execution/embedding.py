"""`synthloom ingest --ray/--workers`: chunks embedded on Ray workers, written here.

Ingest reads and chunks the sources in this process and hands it batches of chunk
texts; each batch goes to a worker actor holding its own copy of the knowledge
base's embedder, several batches at once, and the vectors come back in order for
this process to write to Chroma (the only writer, as in a local ingest). A worker
lost mid-batch costs nothing: that batch is embedded here instead.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from knowledge.embeddings import Vectors, as_array
from knowledge.spec import KnowledgeSpec
from synthloom.execution.config import ExecutionSpec

# Batches in flight per worker: one embedding, the next one waiting on its queue.
BATCHES_PER_WORKER = 2


class EmbedWorker:
    """One Ray actor with the knowledge base's embedder."""

    def __init__(self, knowledge_json: dict[str, Any], index: int) -> None:
        self.spec = KnowledgeSpec.model_validate(knowledge_json)
        self.index = index
        self._created = time.monotonic()
        self._embeddings: Any = None

    async def start(self) -> dict[str, Any]:
        """Load the embedder; returns where and how fast it came up."""
        import ray

        from knowledge.embeddings import make_embeddings

        self._embeddings = make_embeddings(self.spec.embedding)
        return {
            "index": self.index,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "start_s": time.monotonic() - self._created,
        }

    async def embed(self, texts: list[str]) -> Vectors:
        """Unit vectors of the passages, as a local ingest computes them."""
        return await asyncio.to_thread(as_array, self._embeddings, texts)

    async def stop(self) -> None:
        """Nothing to close (the model goes with the process)."""

    async def ping(self) -> int:
        """A cheap round trip."""
        return self.index


@dataclass
class RayEmbedding:
    """Where an ingest's embeddings ran, and how much each worker did."""

    workers: int = 0
    nodes: int = 0
    start_s: float | None = None
    batches: dict[int, int] = field(default_factory=dict)
    """Batches embedded per worker slot."""
    here: int = 0
    """Batches embedded in this process after their worker was lost."""
    embed_many: Callable[[list[list[str]]], list[Vectors]] | None = None
    fan_out: int = 1

    def note(self) -> str:
        """One line for the log."""
        per = ", ".join(str(self.batches.get(i, 0)) for i in range(self.workers))
        return f"ray: batches embedded on {self.workers} workers ({self.nodes} node(s)): {per}" + (
            f"; {self.here} here after a worker was lost" if self.here else ""
        )


@contextmanager
def embedding_on_ray(
    knowledge: KnowledgeSpec, execution: ExecutionSpec, local: Any
) -> Iterator[RayEmbedding]:
    """Embedder actors on the cluster (joined or started here), left at the end.

    `local` is this process's embedder, for a batch whose worker is lost.
    """
    import ray
    from ray.exceptions import RayError

    from synthloom.execution.driver import WorkerPool, connect

    with connect(execution, execution.workers or 1) as cluster:
        cpus = max(1, int(cluster.cpus // execution.worker_cpus))
        count = execution.workers or cpus
        pool = WorkerPool(
            None,
            count,
            execution,
            actor_class=EmbedWorker,
            actor_args=(knowledge.model_dump(mode="json"),),
            slots=count * BATCHES_PER_WORKER,
        )
        pool.spawn()
        try:
            asyncio.run(pool.start())
            where = RayEmbedding(
                workers=len(pool.workers),
                nodes=len(pool.stats.nodes),
                start_s=max(pool.stats.start_s, default=None),
                fan_out=len(pool.workers) * BATCHES_PER_WORKER,
            )

            def embed_many(groups: list[list[str]]) -> list[Vectors]:
                live = pool.live()
                dealt = [(live[i % len(live)], texts) for i, texts in enumerate(groups)]
                refs = [worker.actor.embed.remote(texts) for worker, texts in dealt]
                out: list[Vectors] = []
                for (worker, texts), ref in zip(dealt, refs, strict=True):
                    try:
                        vectors: Vectors = ray.get(ref)
                    except RayError:
                        worker.alive = False  # this pass deals no more to it
                        where.here += 1
                        vectors = as_array(local, texts)
                    else:
                        where.batches[worker.index] = where.batches.get(worker.index, 0) + 1
                    out.append(vectors)
                if not pool.live():
                    raise RuntimeError("every Ray embedding worker was lost")
                return out

            where.embed_many = embed_many
            yield where
        finally:
            asyncio.run(pool.close())
