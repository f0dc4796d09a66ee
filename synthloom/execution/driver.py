"""The Ray driver: deals plans to worker actors and stays the only writer of the run folder.

Everything a single-process run does around the samples (the folder lock, the ledger,
resume, the novelty gate, coverage and replacements, signals, the manifest) is the
same `DatasetRun`; only `_drive` differs: each plan goes to a worker with a free slot,
its outcome comes back and is recorded here. A worker (or its whole node) that dies
takes no sample with it: every plan it had in flight is dealt again to the others,
a replacement worker is asked for, and the manifest says how many samples were re-run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

from synthloom.core.records import Plan, SampleRecord, Usage
from synthloom.execution.config import ExecutionError, ExecutionSpec
from synthloom.execution.worker import WORKER_CHECKPOINTS, SampleWorker
from synthloom.inflight import InFlight
from synthloom.novelty import near_duplicate_reason
from synthloom.runner import DatasetRun, RunResult, _Live
from synthloom.spec import RunSpec

# Object store for a cluster started here: outcomes are small, the default (30% of RAM) is not.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
# Calls a worker takes beyond its share of `concurrency` (ping, stop).
SPARE_CALLS = 4
# Seconds to open a TCP connection to a cluster's address before calling it unreachable.
PROBE_TIMEOUT_S = 5.0
# Seconds a worker gathers more finished samples after the first, before sending them back.
BATCH_WINDOW_S = 0.01
# Seconds workers get to close their checkpointers and model servers at the end.
STOP_S = 10.0


@dataclass
class ClusterInfo:
    """The Ray cluster a run uses."""

    address: str
    nodes: int
    cpus: float
    started_here: bool


def _alive_nodes() -> list[dict[str, Any]]:
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [n for n in nodes if n.get("Alive")]


def probe(address: str) -> None:
    """Fail in seconds, naming the address, where Ray itself would retry for minutes."""
    target = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if target in ("", "auto", "local"):
        return  # Ray finds (or fails to find) a cluster on this machine by itself
    hostport = target.removeprefix("ray://").split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutionError(
            f"execution.ray: {target!r} is not a Ray address; use `local`, `auto`, "
            "host:port (the head's GCS, default 6379) or ray://host:10001"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ExecutionError(
            f"execution.ray: cannot reach the Ray cluster at {target!r} ({exc.strerror or exc}); "
            "is `ray start --head` running there, and is the port open from here?"
        ) from None


@contextmanager
def connect(execution: ExecutionSpec, workers: int) -> Iterator[ClusterInfo]:
    """Join (or, for `local`, start) the Ray cluster; disconnect (or stop it) at the end."""
    import ray

    address = execution.ray or "local"
    joined = ray.is_initialized()
    if not joined:
        probe(address)
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        if address == "local":
            cpus = max(os.cpu_count() or 1, int(workers * execution.worker_cpus + 0.999))
            options |= {
                "num_cpus": cpus,
                "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
                # Ray nices workers to 15 by default; here they *are* the run, and beside
                # other work on a shared machine they would get a sliver of the CPU.
                "_system_config": {"worker_niceness": 0},
            }
        # Ray's core installs its own SIGTERM/SIGINT handlers (log, then abort): the run's
        # drain-then-exit handling (synthloom.signals) is put back over them.
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            ray.init(address=address, **options)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            hint = (
                "set RAY_ADDRESS or start one with `ray start --head`"
                if address == "auto"
                else "is `ray start --head` running there, and is the address host:port "
                "(GCS, default 6379) or ray://host:10001?"
            )
            raise ExecutionError(
                f"execution.ray: cannot reach the Ray cluster at {address!r} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {hint}"
            ) from None
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig, handler in saved.items():
                    signal.signal(sig, handler)
    try:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        yield ClusterInfo(
            address=address,
            nodes=len(_alive_nodes()),
            cpus=float(resources.get("CPU", 0.0)),
            started_here=address == "local" and not joined,
        )
    finally:
        if not joined:
            ray.shutdown()


def check_shared_state(spec: RunSpec, nodes: int) -> None:
    """Refuse, before any sample, state that one process cannot share with many."""
    knowledge = spec.knowledge
    if knowledge is None or knowledge.server is not None:
        return
    where = "workers on several machines" if nodes > 1 else "several worker processes"
    raise ExecutionError(
        f"knowledge.path {knowledge.path}: a local knowledge folder opens in one process only, "
        f"and this run has {where}; serve it with `chroma run --path {knowledge.path}/chroma "
        "--port 8000` (reachable from every node) and set `knowledge.server: {host: ..., "
        "port: 8000}`, or run without --ray/--workers"
    )


def sample_slots(spec: RunSpec) -> int:
    """Samples in flight across all workers: `concurrency` fixed, or its `auto` ceiling."""
    level: Any = spec.concurrency
    if isinstance(level, int):
        return level
    fixed = getattr(level, "fixed", None)
    return int(fixed if fixed is not None else getattr(level, "max", 8))


@dataclass
class _Worker:
    index: int
    share: int
    actor: Any = None
    starting: Any = None
    """The actor's `start` call, made with the actor."""
    busy: int = 0
    """Calls outstanding (the judge pool deals to the least busy)."""
    alive: bool = True
    node: str = ""
    requested: float = 0.0
    plans: dict[str, Plan] = field(default_factory=dict)
    """The plans dealt to it whose outcomes have not come back."""

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class NoWorkers(Exception):  # noqa: N818 - a condition the driver turns into a stop
    """Every worker is lost and no replacement started in time."""


@dataclass
class PoolStats:
    """What the pool saw, for the manifest and the benchmark."""

    started: int = 0
    lost: int = 0
    replaced: int = 0
    start_s: list[float] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    pids: list[int] = field(default_factory=list)
    done: dict[int, int] = field(default_factory=dict)
    """Outcomes per worker slot."""


class WorkerPool:
    """Worker actors with a number of free slots each; lost ones are replaced in the background."""

    def __init__(
        self,
        spec: RunSpec | None,
        count: int,
        execution: ExecutionSpec,
        *,
        actor_class: type = SampleWorker,
        actor_args: tuple[Any, ...] | None = None,
        slots: int | None = None,
    ) -> None:
        """`count` actors of `actor_class(*actor_args, index)`, sharing `slots` calls.

        The defaults: the spec's sample workers and its sample slots.
        """
        import ray

        if spec is None and (actor_args is None or slots is None):
            raise ValueError("without a run spec, give actor_args and slots")
        if actor_args is None:
            assert spec is not None
            actor_args = (spec.model_dump(mode="json"),)
        if slots is None:
            assert spec is not None
            slots = sample_slots(spec)
        self.actor_args = actor_args
        self.execution = execution
        shares = [slots // count + (i < slots % count) for i in range(count)]
        self.workers = [_Worker(index=i, share=s) for i, s in enumerate(shares) if s]
        self._remote: Any = ray.remote(actor_class)
        self._changed = asyncio.Condition()
        self._replacing: dict[int, asyncio.Task[None]] = {}
        self._joined: asyncio.Future[None] | None = None
        self.stats = PoolStats()

    async def start(self) -> None:
        """Start every worker; a worker that cannot start (or be placed) is a clear error."""
        results = await asyncio.gather(
            *(self._start(w) for w in self.workers), return_exceptions=True
        )
        for worker, result in zip(self.workers, results, strict=True):
            if isinstance(result, BaseException):
                await self.close()
                raise ExecutionError(f"Ray worker {worker.index}: {result}") from None

    def spawn(self) -> None:
        """Ask Ray for every worker now: processes start and import while the driver prepares."""
        for worker in self.workers:
            self._spawn(worker)

    def _spawn(self, worker: _Worker) -> None:
        if worker.actor is None:
            worker.requested = time.monotonic()
            worker.actor = self._remote.options(
                num_cpus=self.execution.worker_cpus,
                max_restarts=0,
                max_concurrency=worker.share + SPARE_CALLS,
            ).remote(*self.actor_args, worker.index)
            # Models, knowledge and checkpoints open while the driver still prepares.
            worker.starting = worker.actor.start.remote()

    async def _start(self, worker: _Worker) -> None:
        import ray
        from ray.exceptions import RayError

        self._spawn(worker)
        timeout = self.execution.start_timeout_s
        try:
            info = await asyncio.wait_for(worker.starting, timeout)
        except asyncio.CancelledError:
            ray.kill(worker.actor)  # a replacement no longer wanted: not placed later
            raise
        except TimeoutError:
            ray.kill(worker.actor)
            free: dict[str, float] = ray.available_resources()  # type: ignore[no-untyped-call]
            raise RuntimeError(
                f"not started within {timeout:g}s (execution.start_timeout_s); the cluster has "
                f"{free.get('CPU', 0):g} CPUs free, a worker takes "
                f"{self.execution.worker_cpus:g}"
            ) from None
        except RayError as exc:
            ray.kill(worker.actor)
            raise RuntimeError(_first_line(exc)) from None
        worker.node = str(info["node"])
        self.stats.started += 1
        # From asking Ray for the actor to its models, knowledge and checkpoints being open.
        self.stats.start_s.append(time.monotonic() - worker.requested)
        self.stats.nodes.add(worker.node)
        self.stats.pids.append(int(info["pid"]))

    def live(self) -> list[_Worker]:
        """The workers that are up (replacements join as they start)."""
        return [w for w in self.workers if w.alive]

    async def wait_for_worker(self) -> None:
        """Wait until some worker is up; `NoWorkers` if none is and none is coming."""
        async with self._changed:
            while not self.live():
                if not self._replacing:
                    raise NoWorkers(
                        f"every Ray worker was lost and none could be started again within "
                        f"{self.execution.start_timeout_s:g}s; the samples they had are pending"
                    )
                await self._changed.wait()

    def joined(self) -> asyncio.Future[None] | None:
        """A future done when a replacement joins (None: none is on its way)."""
        if not self._replacing:
            return None
        if self._joined is None or self._joined.done():
            self._joined = asyncio.get_running_loop().create_future()
        return self._joined

    def lost(self, worker: _Worker) -> None:
        """Mark a worker dead (once) and ask Ray for a replacement in the same slot."""
        if not worker.alive:
            return
        import ray

        worker.alive = False
        self.stats.lost += 1
        ray.kill(worker.actor)
        fresh = _Worker(index=worker.index, share=worker.share)
        self._replacing[worker.index] = asyncio.ensure_future(self._replace(fresh))

    async def _replace(self, fresh: _Worker) -> None:
        try:
            await self._start(fresh)
        except (RuntimeError, asyncio.CancelledError):
            pass
        else:
            self.stats.replaced += 1
            self.workers.append(fresh)
        finally:
            self._replacing.pop(fresh.index, None)
            if self._joined is not None and not self._joined.done():
                self._joined.set_result(None)
            async with self._changed:
                self._changed.notify_all()

    async def close(self) -> None:
        """Stop every worker (and give up on replacements still waiting for a place)."""
        import ray

        for task in list(self._replacing.values()):
            task.cancel()
        live = [w for w in self.workers if w.alive and w.actor is not None]
        # A worker closes its checkpointer and model servers itself, if it can in time.
        stops = [w.actor.stop.remote() for w in live]
        with suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), STOP_S)
        for worker in self.workers:
            if worker.alive and worker.actor is not None:
                ray.kill(worker.actor)
                worker.alive = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # A RayTaskError's text ends with the original error's own line.
    return text[-1] if text else type(exc).__name__


class _Feed:
    """The plans still to deal: those given back by lost workers first, then the rest."""

    def __init__(self, plans: Iterator[Plan]) -> None:
        self._plans = plans
        self._again: deque[Plan] = deque()
        self._next: Plan | None = None

    def again(self, plans: Iterable[Plan]) -> None:
        self._again.extend(plans)

    def take(self, count: int) -> list[Plan]:
        taken: list[Plan] = []
        while len(taken) < count:
            if self._again:
                taken.append(self._again.popleft())
            elif self._next is not None:
                taken.append(self._next)
                self._next = None
            elif (plan := next(self._plans, None)) is not None:
                taken.append(plan)
            else:
                break
        return taken

    def more(self) -> bool:
        if self._again or self._next is not None:
            return True
        self._next = next(self._plans, None)
        return self._next is not None


class _RemoteFlight(InFlight):
    """Samples in flight on the workers; `cancel_all` makes the driver cancel them there."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.cancelled = False
        self._event = asyncio.Event()
        self._waiter: asyncio.Future[Any] | None = None

    def __len__(self) -> int:
        return self.count

    def cancel_all(self) -> int:
        self.cancelled = True
        self._event.set()
        return self.count

    def waiter(self) -> asyncio.Future[Any]:
        """A future done once `cancel_all` was called (one, reused while it waits)."""
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.ensure_future(self._event.wait())
        return self._waiter

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.cancel()
            self._waiter = None


class RayDatasetRun(DatasetRun):
    """A `DatasetRun` whose samples run on Ray worker actors."""

    def __init__(self, spec: RunSpec, models: dict[str, BaseChatModel], **kwargs: Any) -> None:
        super().__init__(spec, models, **kwargs)
        self.execution = spec.execution
        self.pool: WorkerPool | None = None
        self.cluster: ClusterInfo | None = None
        self._started = False
        self.rerun = 0
        """Samples dealt again because the worker running them was lost."""
        self.resumed = 0
        """Samples that went on from a checkpoint (the dialogue's turns so far kept)."""
        self.resumed_turns = 0
        self._redealt: set[str] = set()
        self._settled_redealt: set[str] = set()
        self._remote_flight = _RemoteFlight()
        self._in_flight = self._remote_flight

    async def _run(self) -> RunResult:
        wanted = self.execution.workers
        with connect(self.execution, wanted or 1) as cluster:
            self.cluster = cluster
            check_shared_state(self.spec, cluster.nodes)
            self.pool = WorkerPool(self.spec, self.worker_count(), self.execution)
            self.pool.spawn()
            try:
                result = await super()._run()
            finally:
                if self.pool is not None:
                    await self.pool.close()
        if result.status == "completed":
            # Every dialogue is written: the workers' checkpoints hold nothing to resume.
            shutil.rmtree(self.spec.output / WORKER_CHECKPOINTS, ignore_errors=True)
        return result

    def worker_count(self) -> int:
        """Workers to start: as asked, else one per CPU the cluster offers (≤ concurrency)."""
        if self.execution.workers is not None:
            return min(self.execution.workers, sample_slots(self.spec))
        cpus = self.cluster.cpus if self.cluster is not None else 1.0
        return max(1, min(sample_slots(self.spec), int(cpus // self.execution.worker_cpus)))

    async def _start_pool(self) -> WorkerPool:
        pool = self.pool
        if pool is None:
            raise RuntimeError("the pool is made in _run")
        if not self._started:
            await pool.start()
            self._started = True
            self.console.print(
                f"ray: {len(pool.workers)} workers on {len(pool.stats.nodes)} node(s) of "
                f"{self.cluster.address if self.cluster else '?'}, each ready "
                f"{max(pool.stats.start_s, default=0.0):.1f}s after it was asked for",
                markup=False,
                highlight=False,
            )
        return pool

    async def _drive(
        self,
        graph: Pregel[Any, Any, Any, Any],
        saver: BaseCheckpointSaver[Any] | None,
        todo: Iterable[Plan],
        live: _Live,
    ) -> None:
        """Deal plans to the workers in batches and record their outcomes as they come.

        Each live worker has at most one `exchange` call outstanding: it carries the
        plans that refill the worker's free slots and returns the outcomes finished
        since the last one, so Ray carries a batch per round trip instead of a call per
        sample. The driver writes each batch's accepted samples in one append.
        """
        pool = await self._start_pool()
        feed = _Feed(iter(todo))
        flight = self._remote_flight
        calls: dict[asyncio.Task[list[dict[str, Any]]], _Worker] = {}
        with self._progress(live) as (progress, task_id):
            try:
                while True:
                    dealing = not (live.stop_reason or live.interrupted or flight.cancelled)
                    if dealing:
                        self._check_budget(live)
                        dealing = not (live.stop_reason or flight.cancelled)
                    busy = set(calls.values())
                    for worker in pool.live():
                        if worker in busy:
                            continue
                        batch = feed.take(worker.share - len(worker.plans)) if dealing else []
                        if batch or worker.plans:
                            calls[self._exchange(worker, batch)] = worker
                    if flight.cancelled:
                        await self._cancel_remote(pool, calls, live)
                        return
                    if not calls:
                        if not feed.more() or not dealing:
                            return
                        await pool.wait_for_worker()  # every worker lost: a replacement
                        continue
                    joined = pool.joined()
                    waits: set[asyncio.Future[Any]] = {*calls, flight.waiter()}
                    if joined is not None:
                        waits.add(joined)
                    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for call in [c for c in calls if c in done]:
                        self._received(pool, calls.pop(call), call, feed, live)
                    progress.update(task_id, completed=self._finished(live), **self._fields(live))
            except NoWorkers as exc:
                self._stop(live, str(exc))
            finally:
                for call in calls:
                    call.cancel()
                flight.count = 0
                flight.close()
            progress.update(task_id, completed=self._finished(live), **self._fields(live))

    def _exchange(self, worker: _Worker, batch: list[Plan]) -> asyncio.Task[list[dict[str, Any]]]:
        """Send `batch` to the worker with one `exchange` call; the task brings outcomes."""
        items: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for plan in batch:
            worker.plans[plan.id] = plan
            shown = self._with_covered(plan)
            items.append(
                (
                    plan.model_dump(mode="json"),
                    None if shown is plan else shown.model_dump(mode="json"),
                )
            )
        self._remote_flight.count += len(batch)
        ref = worker.actor.exchange.remote(items, BATCH_WINDOW_S)

        async def call() -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = await ref
            return result

        return asyncio.ensure_future(call())

    def _received(
        self,
        pool: WorkerPool,
        worker: _Worker,
        call: asyncio.Task[list[dict[str, Any]]],
        feed: _Feed,
        live: _Live,
    ) -> None:
        """Record a batch of outcomes; if the worker died, deal its plans again."""
        from ray.exceptions import RayActorError

        try:
            outcomes = call.result()
        except RayActorError:
            pool.lost(worker)
            lost = list(worker.plans.values())
            worker.plans.clear()
            self._remote_flight.count -= len(lost)
            self.rerun += len(lost)
            self._redealt.update(p.id for p in lost)
            feed.again(lost)
            return
        lines: list[str] = []
        for outcome in outcomes:
            plan = worker.plans.pop(str(outcome["id"]), None)
            if plan is None:
                continue  # not dealt to this worker (a stale retry): nothing to record
            self._remote_flight.count -= 1
            pool.stats.done[worker.index] = pool.stats.done.get(worker.index, 0) + 1
            if plan.id in self._redealt:
                # Ids are plan-derived: a second outcome of one plan is dropped, never appended.
                if plan.id in self._settled_redealt:
                    continue
                self._settled_redealt.add(plan.id)
            self._record(plan, outcome, lines, live)
        self.run_dir.write_sample_lines(lines)

    def _record(self, plan: Plan, outcome: dict[str, Any], lines: list[str], live: _Live) -> None:
        """One outcome into the ledger: `DatasetRun._settle` for a record built remotely."""
        if outcome.get("resumed") is not None:
            self.resumed += 1
            self.resumed_turns += int(outcome["resumed"])
        if "error" in outcome:
            self._count_error(plan, str(outcome["error"]), str(outcome["message"]), live)
            return
        live.consecutive_transient = 0
        usage = outcome.get("usage")
        accepted = outcome.get("accepted")
        if accepted is not None:
            gate = self.gate
            repeats = None
            if gate is not None:
                repeats = gate.admit(SampleRecord.model_validate(accepted["record"]))
            if repeats is None:
                lines.append(str(accepted["line"]))
                live.counts.accepted += 1
                live.new_samples += 1
            else:
                novelty = self.spec.novelty
                reason = near_duplicate_reason(repeats, novelty.threshold, novelty.ngram)
                partial = accepted.get("partial") or []
                self._reject(plan, "rejected", reason, partial, usage, live, "near_duplicate")
        else:
            rejected = outcome["rejected"]
            self._reject(
                plan,
                "rejected",
                str(rejected["reason"]),
                rejected["partial"],
                usage,
                live,
                rejected["code"],
            )
        live.counts.usage += Usage.of(usage)

    async def _cancel_remote(
        self,
        pool: WorkerPool,
        calls: dict[asyncio.Task[list[dict[str, Any]]], _Worker],
        live: _Live,
    ) -> None:
        """A stop: every worker cancels its samples (they stay pending); what finished is kept."""
        stops = [w.actor.cancel.remote() for w in pool.live()]
        with suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), STOP_S)
        if calls:
            await asyncio.wait(set(calls), timeout=STOP_S)
        feed = _Feed(iter(()))
        for call, worker in list(calls.items()):
            if call.done() and not call.cancelled() and call.exception() is None:
                self._received(pool, worker, call, feed, live)
        for worker in pool.workers:
            worker.plans.clear()  # cancelled: pending, to be resumed

    def _manifest_extra(self) -> dict[str, Any]:
        stats = self.pool.stats if self.pool is not None else PoolStats()
        return {
            "execution": {
                "ray": self.cluster.address if self.cluster is not None else self.execution.ray,
                "workers": len([w for w in self.pool.workers if w.alive]) if self.pool else 0,
                "nodes": len(stats.nodes),
                "workers_lost": stats.lost,
                "workers_replaced": stats.replaced,
                "rerun": self.rerun,
                "resumed": self.resumed,
                "resumed_turns": self.resumed_turns,
                "worker_start_s": max(stats.start_s, default=None),
                "samples_per_worker": {str(k): v for k, v in sorted(stats.done.items())},
            }
        }
