"""The Ray worker: today's sample graph in one actor process, outcomes sent back.

A worker writes nothing into the run folder. It opens the models, the knowledge base
(a Chroma server when workers are many) and its checkpointer, then runs the plans the
driver deals it, as many at once as its share of `concurrency`. Each call returns the
finished graph state (or the classified error) for the driver to record; a dialogue
already checkpointed under its id (Postgres, or this worker's own SQLite file) goes
on from its last committed step instead of starting over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
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
from synthloom.core.records import Plan, Usage
from synthloom.core.redact import redact
from synthloom.core.store import encode_line
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
        self._running: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._done: list[dict[str, Any]] = []
        self._ready: asyncio.Event | None = None
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
        """One sample's outcome (see `_outcome`); one Ray call per sample (tests, tools)."""
        return await self._outcome(plan_json, shown_json)

    async def exchange(
        self, plans: list[tuple[dict[str, Any], dict[str, Any] | None]], window_s: float
    ) -> list[dict[str, Any]]:
        """Start `plans`, then return every outcome finished so far (waiting for one first).

        One Ray call both deals new plans and brings finished ones back: the driver pays
        a round trip per batch, not per sample. After the first outcome is ready, up to
        `window_s` more seconds gather others (a slot waits at most that long to refill).
        With nothing running and nothing finished it returns at once.
        """
        if self._graph is None or self._task is None:
            raise RuntimeError("start() first")
        ready = self._ready
        if ready is None:
            ready = self._ready = asyncio.Event()
        for plan_json, shown_json in plans:
            plan_id = str(plan_json["id"])
            if plan_id in self._running:
                continue  # dealt twice (a retried call): one run is enough
            task = asyncio.ensure_future(self._outcome(plan_json, shown_json or plan_json))
            self._running[plan_id] = task
            task.add_done_callback(functools.partial(self._finished, plan_id))
        if not self._done and self._running:
            await ready.wait()
        if window_s > 0 and self._running and len(self._done) < len(self._running):
            await asyncio.sleep(window_s)
        done, self._done = self._done, []
        ready.clear()
        return done

    def _finished(self, plan_id: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self._running.pop(plan_id, None)
        if task.cancelled():
            return  # a stop: the sample stays pending, its checkpoint kept
        exc = task.exception()
        if exc is not None:  # a bug in building the outcome: a failed sample, named
            outcome = {"id": plan_id, "error": "sample", "message": redact(describe_error(exc))}
        else:
            outcome = task.result()
        self._done.append(outcome)
        if self._ready is not None:
            self._ready.set()

    async def cancel(self) -> int:
        """Stop every sample where it is (they stay pending); the call waiting returns."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._ready is not None:
            self._ready.set()
        return len(tasks)

    async def _outcome(
        self, plan_json: dict[str, Any], shown_json: dict[str, Any]
    ) -> dict[str, Any]:
        """Run one plan; what the driver records, built here so the driver only writes.

        `accepted`: the sample's line as the run folder's appender would encode it (and,
        when the driver's novelty gate must see it, the record and its turns);
        `rejected`: reason, code and the turns before it; or `error` and `message`.
        `resumed`: turns it went on from, when a checkpoint had them. `shown_json` is
        the plan as the graph should see it (with the openings to avoid); `plan_json`
        names the thread.
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
            return {
                "id": plan_id,
                "error": classify_error(exc),
                "message": redact(describe_error(exc)),
            }
        outcome = self._settled(Plan.model_validate(plan_json), final)
        outcome["id"], outcome["resumed"] = plan_id, resumed
        if self._saver is not None:
            # Before the driver has written it: a driver killed now costs a re-run, not a loss.
            await self._saver.adelete_thread(plan_id)
        return outcome

    def _settled(self, plan: Plan, final: dict[str, Any]) -> dict[str, Any]:
        """A finished graph's state as the driver records it (`DatasetRun._settle`'s input)."""
        task = self._task
        assert task is not None
        usage = Usage.of(final.get("usage")).as_dict()
        if final.get("outcome") == "completed":
            data = task.record(plan, final).model_dump(mode="json")
            accepted: dict[str, Any] = {"line": encode_line(data)}
            if self.spec.novelty.enabled:
                accepted |= {"record": data, "partial": task.partial_messages(final)}
            return {"accepted": accepted, "usage": usage}
        reason = final.get("reason")
        return {
            "rejected": {
                "reason": str(reason or "dialogue ended without an outcome"),
                "code": final.get("reason_code") or (None if reason else "no_outcome"),
                "partial": task.partial_messages(final),
            },
            "usage": usage,
        }

    async def stop(self) -> None:
        """Close the checkpointer, knowledge base and model servers."""
        await self._stack.aclose()

    async def ping(self) -> int:
        """A cheap round trip (benchmarks, health)."""
        return self.index
