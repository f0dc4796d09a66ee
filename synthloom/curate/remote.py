"""Curation's LLM blocks on Ray: the judge calls run on worker actors, the rest stays here.

`synthloom curate RUN --ray ADDRESS|local --workers N` (and a `run --ray` that curates
after generating) keeps every block, the judgement cache and the curated files in this
process, the only writer; what moves is the model call of each judgement. The roles
the blocks hold are stand-ins whose `score` / `check` / `label` send the call (plain
messages, topics, sources) to the least busy worker, which asks its own judge model
and sends back the verdict as JSON with its usage. A worker lost mid-call costs
nothing: the call goes to another (a replacement is asked for).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.judge import (
    FaithfulnessChecker,
    FaithfulnessVerdict,
    Labeler,
    RubricJudge,
    RubricVerdict,
    SampleLabels,
)
from agents.llm import classify_error, describe_error
from agents.structured import ModelOutputError
from synthloom.core.records import Turn, Usage
from synthloom.core.redact import redact
from synthloom.curate.config import CurateSpec
from synthloom.curate.llm import RemoteCallError
from synthloom.curate.pipeline import Judges
from synthloom.execution.config import ExecutionSpec
from synthloom.spec import RunSpec


class JudgeWorker:
    """One Ray actor holding the curation pass's judge roles (its own models)."""

    def __init__(self, spec_json: dict[str, Any], curate_json: dict[str, Any], index: int) -> None:
        self.spec = RunSpec.model_validate(spec_json)
        self.settings = CurateSpec.model_validate(curate_json)
        self.index = index
        self._stack = ExitStack()
        self._judges: Judges | None = None
        self._created = time.monotonic()

    async def start(self) -> dict[str, Any]:
        """Open the judge models; returns where and how fast it came up."""
        from synthloom.curate.models import open_judges

        self._judges = self._stack.enter_context(
            open_judges(self.spec, self.settings, log_dir=Path(tempfile.gettempdir()))
        )
        import ray

        return {
            "index": self.index,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "start_s": time.monotonic() - self._created,
        }

    def _role(self, key: str) -> Any:
        judges = self._judges
        if judges is None:
            raise RuntimeError("start() first")
        if key.startswith("labelers."):
            return judges.labelers[key.removeprefix("labelers.")]
        return getattr(judges, key)

    async def call(self, role: str, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One judgement: `result` and `usage`, `output_error` (unjudged), or `error`."""
        try:
            verdict, usage = await getattr(self._role(role), method)(**kwargs)
        except ModelOutputError as exc:
            return {"output_error": exc.reason, "usage": exc.usage.as_dict()}
        except Exception as exc:  # noqa: BLE001 - classified here, decided by the block
            return {"error": classify_error(exc), "message": redact(describe_error(exc))}
        return {"result": verdict.model_dump(mode="json"), "usage": usage.as_dict()}

    async def stop(self) -> None:
        """Close the judge models (and any embedded server)."""
        self._stack.close()

    async def ping(self) -> int:
        """A cheap round trip."""
        return self.index


class RemoteJudges:
    """Sends judge calls to the least busy live worker of a pool, again if it is lost."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.calls: dict[int, int] = {}
        """Judge calls answered, per worker slot."""
        self.redone = 0
        """Calls sent again because the worker running them was lost."""

    async def call(self, role: str, method: str, **kwargs: Any) -> tuple[dict[str, Any], Usage]:
        """`role.method(**kwargs)` on a worker: the verdict as JSON and its usage."""
        from ray.exceptions import RayActorError

        from synthloom.execution.driver import NoWorkers

        while True:
            try:
                await self.pool.wait_for_worker()
            except NoWorkers as exc:  # nothing left to judge on: the pass stops, named
                raise RemoteCallError("fatal", str(exc)) from None
            worker = min(self.pool.live(), key=lambda w: w.busy)
            worker.busy += 1
            try:
                answer: dict[str, Any] = await worker.actor.call.remote(role, method, kwargs)
            except RayActorError:
                self.pool.lost(worker)
                self.redone += 1
                continue
            finally:
                worker.busy -= 1
            self.calls[worker.index] = self.calls.get(worker.index, 0) + 1
            break
        usage = Usage.of(answer.get("usage"))
        if "output_error" in answer:
            raise ModelOutputError(str(answer["output_error"]), usage)
        if "error" in answer:
            raise RemoteCallError(str(answer["error"]), str(answer["message"]))
        return answer["result"], usage


def _fields_of(role: Any) -> dict[str, Any]:
    return {f.name: getattr(role, f.name) for f in dataclasses.fields(role) if f.init}


@dataclass(frozen=True)
class _RemoteRubric(RubricJudge):
    remote: RemoteJudges = field(kw_only=True)

    async def score(
        self, messages: Sequence[Turn], *, topic: str, conditions: Mapping[str, str]
    ) -> tuple[RubricVerdict, Usage]:
        data, usage = await self.remote.call(
            "rubric", "score", messages=list(messages), topic=topic, conditions=dict(conditions)
        )
        return RubricVerdict.model_validate(data), usage


@dataclass(frozen=True)
class _RemoteFaithfulness(FaithfulnessChecker):
    remote: RemoteJudges = field(kw_only=True)

    async def check(
        self, messages: Sequence[Turn], sources: Sequence[str]
    ) -> tuple[FaithfulnessVerdict, Usage]:
        data, usage = await self.remote.call(
            "faithfulness", "check", messages=list(messages), sources=list(sources)
        )
        return FaithfulnessVerdict.model_validate(data), usage


@dataclass(frozen=True)
class _RemoteLabeler(Labeler):
    remote: RemoteJudges = field(kw_only=True)
    key: str = field(default="", kw_only=True)

    async def label(
        self, messages: Sequence[Turn], *, topics: Sequence[str]
    ) -> tuple[SampleLabels, Usage]:
        data, usage = await self.remote.call(
            f"labelers.{self.key}", "label", messages=list(messages), topics=list(topics)
        )
        return SampleLabels.model_validate(data), usage


def remote_judges(local: Judges, remote: RemoteJudges) -> Judges:
    """The same judges (names, prompts, fingerprints) whose calls run on the workers."""
    rubric = local.rubric
    faithfulness = local.faithfulness
    return Judges(
        rubric=None if rubric is None else _RemoteRubric(**_fields_of(rubric), remote=remote),
        faithfulness=None
        if faithfulness is None
        else _RemoteFaithfulness(**_fields_of(faithfulness), remote=remote),
        labelers={
            name: _RemoteLabeler(**_fields_of(labeler), remote=remote, key=name)
            for name, labeler in local.labelers.items()
        },
    )


@dataclass
class RayJudging:
    """Where a curation pass's judge calls ran, for its notes."""

    address: str = ""
    workers: int = 0
    nodes: int = 0
    start_s: float | None = None
    remote: RemoteJudges | None = None

    def summary(self) -> dict[str, Any]:
        """What `curation.json` records of it."""
        remote = self.remote
        calls = remote.calls if remote is not None else {}
        return {
            "ray": self.address,
            "workers": self.workers,
            "nodes": self.nodes,
            "worker_start_s": None if self.start_s is None else round(self.start_s, 2),
            "calls_per_worker": {str(k): v for k, v in sorted(calls.items())},
            "calls_redone": remote.redone if remote else 0,
        }

    def note(self) -> str:
        """One line for the log."""
        calls = self.remote.calls if self.remote is not None else {}
        per = ", ".join(f"{calls.get(i, 0)}" for i in range(self.workers))
        redone = self.remote.redone if self.remote is not None else 0
        return (
            f"judge calls on {self.workers} Ray workers ({self.nodes} node(s) of {self.address}): "
            f"{sum(calls.values())} calls ({per}), {redone} sent again after a worker was lost"
        )


@asynccontextmanager
async def judges_on_ray(
    spec: RunSpec, settings: CurateSpec, execution: ExecutionSpec, local: Judges
) -> AsyncIterator[tuple[Judges, RayJudging]]:
    """Judges whose calls run on Ray workers (the cluster joined or started, then left)."""
    from synthloom.execution.driver import WorkerPool, connect

    with connect(execution, execution.workers or 1) as cluster:
        cpus = max(1, int(cluster.cpus // execution.worker_cpus))
        count = min(execution.workers or cpus, settings.concurrency)
        pool = WorkerPool(
            spec,
            count,
            execution,
            actor_class=JudgeWorker,
            actor_args=(spec.model_dump(mode="json"), settings.model_dump(mode="json")),
            slots=settings.concurrency,
        )
        pool.spawn()
        try:
            await pool.start()
            remote = RemoteJudges(pool)
            where = RayJudging(
                address=cluster.address,
                workers=len(pool.workers),
                nodes=len(pool.stats.nodes),
                start_s=max(pool.stats.start_s, default=None),
                remote=remote,
            )
            yield remote_judges(local, remote), where
        finally:
            await pool.close()
