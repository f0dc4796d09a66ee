"""The Ray worker: today's sample graph in one actor process, outcomes sent back.

A worker writes nothing into the run folder. It opens the models, the knowledge base
(a Chroma server when workers are many) and its checkpointer, then runs the plans the
driver deals it, as many at once as its share of `concurrency`. Each call returns the
finished graph state (or the classified error) for the driver to record; a dialogue
already checkpointed under its id (Postgres, or this worker's own SQLite file) goes
on from its last committed step instead of starting over.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.types import Durability

from agents.endpoints import open_models
from agents.llm import classify_error, describe_error
from knowledge.grounding import KnowledgeBase
from synthloom.core.redact import redact
from synthloom.execution.checkpoints import open_worker_saver
from synthloom.execution.config import PostgresCheckpointer
from synthloom.spec import RunSpec
from synthloom.tasks import Task, make_task, roles_for

# Folder (inside the run folder's path, on the worker's own node) of per-worker SQLite.
WORKER_CHECKPOINTS = "worker-checkpoints"


def worker_checkpoint_path(output: Path, index: int) -> Path:
    """Worker `index`'s SQLite checkpoints (a replacement worker reuses its slot's file)."""
    return output / WORKER_CHECKPOINTS / f"worker-{index}.sqlite"


class SampleWorker:
    """One Ray actor's state: the spec's task, compiled graph and checkpointer."""

    def __init__(self, spec_json: dict[str, Any], index: int) -> None:
        self.spec = RunSpec.model_validate(spec_json)
        self.index = index
        self._stack = AsyncExitStack()
        self._task: Task | None = None
        self._graph: Pregel[Any, Any, Any, Any] | None = None
        self._saver: BaseCheckpointSaver[Any] | None = None
        self._created = time.monotonic()
        # Postgres is there so that another node can go on from the last turn: each step
        # is committed before the next starts (a round trip per step, beside seconds per
        # model call). A worker's own SQLite file is lost with its node anyway.
        shared = isinstance(self.spec.checkpointer, PostgresCheckpointer)
        self._durability: Durability = "sync" if shared else "async"

    async def start(self) -> dict[str, Any]:
        """Open models, knowledge and checkpoints; returns where and how fast it came up."""
        spec = self.spec
        models = self._stack.enter_context(
            open_models(spec, roles_for(spec), log_dir=Path(tempfile.gettempdir()))
        )
        task = make_task(spec, models)
        if spec.knowledge is not None:
            # The driver ingested already: a worker only reads (never re-ingests).
            base = self._stack.enter_context(
                KnowledgeBase(spec.knowledge, model=models["assistant"], purpose="ray worker")
            )
            task.context = dataclasses.replace(task.context, knowledge=base)
        path = worker_checkpoint_path(spec.output, self.index)
        self._saver = await self._stack.enter_async_context(
            open_worker_saver(spec.checkpointer, path)
        )
        self._graph = task.build_graph().compile(checkpointer=self._saver, name=spec.task)
        self._task = task
        import ray

        return {
            "index": self.index,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "start_s": time.monotonic() - self._created,
        }

    async def run(self, plan_json: dict[str, Any], shown_json: dict[str, Any]) -> dict[str, Any]:
        """One sample: `final` state (`resumed`: turns it went on from), or `error` and `message`.

        `shown_json` is the plan as the graph should see it (with the openings to avoid);
        `plan_json` names the thread.
        """
        if self._graph is None or self._task is None:
            raise RuntimeError("start() first")
        plan_id = str(plan_json["id"])
        config: RunnableConfig = {"configurable": {"thread_id": plan_id}}
        resumed: int | None = None
        try:
            saved = await self._saver.aget_tuple(config) if self._saver is not None else None
            if saved is not None:
                resumed = len(saved.checkpoint["channel_values"].get("turns") or [])
            final: dict[str, Any] = await self._graph.ainvoke(
                None if saved is not None else {"plan": shown_json},
                config,
                context=self._task.context,
                durability=self._durability,
            )
        except Exception as exc:  # noqa: BLE001 - every error is classified and sent back
            return {"error": classify_error(exc), "message": redact(describe_error(exc))}
        if self._saver is not None:
            # Before the driver has written it: a driver killed now costs a re-run, not a loss.
            await self._saver.adelete_thread(plan_id)
        return {"final": final, "resumed": resumed}

    async def stop(self) -> None:
        """Close the checkpointer, knowledge base and model servers."""
        await self._stack.aclose()

    async def ping(self) -> int:
        """A cheap round trip (benchmarks, health)."""
        return self.index
