"""The dataset run: plans → concurrent dialogue graphs → append-only output.

A fixed pool of workers pulls plans so the endpoint always has `concurrency`
requests in flight. Each finished sample is appended at once; ids come from the
plan, so re-running the same command skips what is done and resumes dialogues
in flight from their last LangGraph checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from rich.console import Console

from agents.flow import Tally, Traffic, sample_tally
from agents.llm import classify_error, describe_error, model_name, traffic_of
from synthloom import signals
from synthloom.accounting import write_run_coverage
from synthloom.budget import Admission
from synthloom.core.records import Plan, RejectRecord, Turn, Usage, legacy_code
from synthloom.core.redact import RedactingSerializer, redact
from synthloom.estimate import (
    measured_cost,
    sample_calls_max,
    sample_cost_range,
    sample_tokens_high,
)
from synthloom.execution.checkpoints import open_postgres_saver
from synthloom.execution.config import PostgresCheckpointer
from synthloom.inflight import InFlight
from synthloom.novelty import NoveltyGate, near_duplicate_reason, open_index
from synthloom.planbook import Done, PlanBook
from synthloom.planning import Planner
from synthloom.progress import ProgressScope
from synthloom.run_tree import prepare_run_tree, tree_path
from synthloom.rundir import Counts, RunDir, RunDirLock
from synthloom.spec import RunSpec
from synthloom.sqlite_saver import LoopSqliteSaver
from synthloom.tasks import make_task, use_novelty
from synthloom.ticker import ticking

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree

# Stop the run (leaving samples pending) after this many endpoint errors in a row.
MAX_CONSECUTIVE_TRANSIENT = 8
# Seconds samples in flight get to finish after SIGTERM/SIGINT, before they are cancelled.
GRACE_S = 10.0
# Seconds between rewrites of run.json while the run works.
MANIFEST_EVERY_S = 5.0


@dataclass
class RunResult:
    """What a run did, for the CLI's summary and for tests."""

    path: Path
    counts: Counts
    new_samples: int = 0
    skipped: int = 0
    wall_s: float = 0.0
    status: str = "completed"
    stopped_because: str | None = None
    last_error: str | None = None
    coverage: dict[str, Any] | None = None
    """Summary of `coverage.json` for runs over a concept tree (see `coverage_summary`)."""
    signal: int | None = None
    """The signal that drained the run (status `interrupted`), if one did."""


@dataclass
class _Live:
    counts: Counts
    new_samples: int = 0
    consecutive_transient: int = 0
    stop_reason: str | None = None
    fatal: bool = False
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)
    lost: list[Plan] = field(default_factory=list)
    """Plans rejected or failed in this pass (candidates for a replacement attempt)."""
    coverage: dict[str, Any] | None = None
    """Summary of the run's `coverage.json` (runs over a concept tree)."""
    interrupted: int | None = None
    """The signal received: no new sample starts."""


@asynccontextmanager
async def open_checkpointer(
    spec: RunSpec, run_dir: RunDir
) -> AsyncIterator[BaseCheckpointSaver[Any] | None]:
    """SQLite checkpoints in the run folder (or none, if the spec turns them off)."""
    if spec.checkpointer == "none":
        yield None
        return
    if isinstance(spec.checkpointer, PostgresCheckpointer):
        async with open_postgres_saver(spec.checkpointer, setup=True) as shared:
            yield shared
        return
    with LoopSqliteSaver.open(str(run_dir.checkpoints_path)) as saver:
        # Error text and dialogue in checkpoints are masked like every other file.
        saver.serde = RedactingSerializer(saver.serde)
        yield saver


async def _purge_finished_threads(saver: BaseCheckpointSaver[Any], done: Done) -> None:
    """Drop checkpoints of samples already written (a kill between the two leaves them)."""
    stale = {
        str(item.config["configurable"]["thread_id"])
        async for item in saver.alist(None)
        if _finished(item.checkpoint["channel_values"].get("plan"), done)
    }
    for thread_id in stale:
        await saver.adelete_thread(thread_id)


def _finished(plan: Any, done: Done) -> bool:
    """Whether a checkpoint's plan (a Plan dump) already has its outcome on disk."""
    return isinstance(plan, dict) and "index" in plan and done.has(plan)


class DatasetRun:
    """One execution of a spec against already-built chat models."""

    def __init__(
        self,
        spec: RunSpec,
        models: dict[str, BaseChatModel],
        *,
        console: Console | None = None,
        show_progress: bool = True,
        retry_failed: bool = False,
        extra_plans: Sequence[Plan] = (),
        grace_s: float = GRACE_S,
        manifest_every_s: float | None = MANIFEST_EVERY_S,
        status_every_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.models = models
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.retry_failed = retry_failed
        self.extra_plans = list(extra_plans)
        self.run_dir = RunDir(spec.output)
        self.fingerprint = spec.plan_fingerprint()
        self.task = make_task(spec, models)
        self.gate: NoveltyGate | None = None
        """The novelty gate (a sharded run's driver would own it and serve its calls)."""
        self.model_names = {role: model_name(m) for role, m in models.items()}
        self.grace_s = grace_s
        self.manifest_every_s = manifest_every_s
        self.status_every_s = status_every_s
        self._in_flight = InFlight()
        found = (traffic_of(m) for m in models.values())
        self.traffic: Traffic = next((t for t in found if t is not None), None) or Traffic(
            spec.concurrency.settings()
        )
        """The role models' flows (one per endpoint) and their meter of calls and tokens."""
        self._cost_before = measured_cost(spec.output) or 0.0
        self._admission: Admission | None = None
        self._live: _Live | None = None
        self._driving = False
        self._main: asyncio.Task[Any] | None = None

    async def run(self) -> RunResult:
        """Generate every pending sample; safe to call again after any interruption."""
        self._main = asyncio.current_task()
        with RunDirLock(self.run_dir.path, f"synthloom run ({self.spec.task})"):
            with signals.draining(self._on_signal, self._last_words):
                try:
                    return await self._run()
                except asyncio.CancelledError:
                    if self._live is None or self._live.interrupted is None:
                        raise
                    return self._interrupted_result(self._live)

    async def _run(self) -> RunResult:
        self.run_dir.claim(self.fingerprint, self.spec.model_dump(mode="json"))
        # The concept tree (if any) is built, grown and pinned in the run folder first.
        tree = await prepare_run_tree(self.spec, self.models.get("assistant"), self.console)
        planner = Planner(self.spec, tree)
        if self.retry_failed:
            self.run_dir.drop_failed()
        # Plans are derived as they are reached, in memory that does not grow with `samples`.
        book = PlanBook(self.spec, planner, self.run_dir, self.extra_plans)
        counts, done = book.tally()
        todo = book.todo(done)
        # The index of the accepted set is rebuilt from samples.jsonl: nothing else to trust.
        self.gate = open_index(self.spec.novelty, self.run_dir.samples_path)
        use_novelty(self.task, self.gate)
        live = self._live = _Live(counts=counts)
        # The manifest exists before any sample does, so even a first run killed
        # at once is recognised as this run on the next start.
        self._write_manifest(live, "running")
        self.run_dir.open_writers()
        status = "interrupted"
        try:
            # The knowledge base (if any) is ingested, then held open (one writer) till the end.
            grounded = self.task.grounded(self.console, progress=self.show_progress)
            async with (
                grounded,
                open_checkpointer(self.spec, self.run_dir) as saver,
                ticking(self.manifest_every_s, lambda: self._write_manifest(live, "running")),
                ticking(self.status_every_s, lambda: self._print_status(live)),
            ):
                if saver is not None:
                    await _purge_finished_threads(saver, done)
                graph = self.task.build_graph().compile(checkpointer=saver, name=self.spec.task)
                self._driving = True
                await self._drive(graph, saver, todo, live)
                known = book.known_ids()
                # Lost samples get replacements with the same leaf and cell, so the
                # accepted set stays even (up to `coverage.replacements` attempts each).
                while not (live.stop_reason or live.interrupted or live.counts.pending):
                    fresh = [r for r in planner.replacements(live.lost) if r.id not in known]
                    if not fresh:
                        break
                    known.update(r.id for r in fresh)
                    live.lost = []
                    live.counts.requested += len(fresh)
                    await self._drive(graph, saver, fresh, live)
            if live.interrupted:
                status = "interrupted"
            elif live.stop_reason:
                status = "stopped"
            elif live.counts.pending:
                status = "incomplete"
            else:
                status = "completed"
                self.run_dir.compact_checkpoints()
        finally:
            self.run_dir.close()
            if tree is not None:
                live.coverage = self._write_coverage(tree, book.all_plans())
            self._write_manifest(live, status)
        return RunResult(
            path=self.spec.output,
            counts=live.counts,
            new_samples=live.new_samples,
            skipped=len(done),
            wall_s=time.monotonic() - live.started,
            status=status,
            stopped_because=live.stop_reason,
            last_error=live.last_error,
            coverage=live.coverage,
            signal=live.interrupted,
        )

    def _on_signal(self, signum: int) -> None:
        """First SIGTERM/SIGINT: start no sample; give those in flight `grace_s`, then cancel."""
        live = self._live
        if live is None or not self._driving:
            # Still preparing (tree, knowledge): nothing in flight to wait for.
            if live is not None:
                live.interrupted = signum
            if self._main is not None:
                self._main.cancel()
            return
        live.interrupted = signum
        self.console.print(
            f"{signals.signal_name(signum)}: starting no new samples; {len(self._in_flight)} in "
            f"flight get {self.grace_s:g}s to finish, then stay pending (a second signal exits "
            "now)",
            markup=False,
            highlight=False,
        )
        asyncio.get_running_loop().call_later(self.grace_s, self._in_flight.cancel_all)

    def _last_words(self, signum: int) -> None:
        """Second signal: the manifest says what is on disk before the process exits."""
        if self._live is not None:
            self._write_manifest(self._live, "interrupted")

    def _interrupted_result(self, live: _Live) -> RunResult:
        return RunResult(
            path=self.spec.output,
            counts=live.counts,
            new_samples=live.new_samples,
            wall_s=time.monotonic() - live.started,
            status="interrupted",
            last_error=live.last_error,
            signal=live.interrupted,
        )

    def _print_status(self, live: _Live) -> None:
        """One line of where the run is, for logs where no progress bar shows."""
        c = live.counts
        line = (
            f"status: {self._finished(live):,} of {c.requested:,} done ({c.accepted:,} accepted, "
            f"{c.rejected:,} rejected, {c.failed:,} failed), {len(self._in_flight)} in flight, "
            f"{live.consecutive_transient} endpoint errors in a row, "
            f"{c.usage.total_tokens:,} tokens"
        )
        if live.last_error:
            line += f"; last error: {live.last_error}"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _stop(self, live: _Live, reason: str) -> None:
        """Decide to stop: no new sample starts and those in flight are cancelled now."""
        if live.stop_reason is None:
            live.stop_reason = reason
        self._in_flight.cancel_all()

    def _write_manifest(self, live: _Live, status: str) -> None:
        self.run_dir.write_manifest(
            live.counts,
            fingerprint=self.fingerprint,
            status=status,
            extra={
                "task": self.spec.task,
                "models": self.model_names,
                "stopped_because": live.stop_reason,
                "last_error": live.last_error,
                **({"coverage": live.coverage} if live.coverage else {}),
                **({"novelty": self.gate.summary()} if self.gate is not None else {}),
                "concurrency": self._concurrency_summary(),
                "cost": self._cost_summary(live),
                **self._manifest_extra(),
            },
        )

    def _concurrency_summary(self) -> dict[str, Any]:
        """The spec's setting and, per endpoint, the level chosen, its peak and 429/503s."""
        return {"setting": str(self.spec.concurrency), "endpoints": self.traffic.summary()}

    def _spent(self) -> float | None:
        """Money spent into this folder (None: a model called has no price)."""
        now = self.spec.pricing.cost(self.traffic.meter.total)
        return None if now is None else self._cost_before + now

    def _cost_summary(self, live: _Live) -> dict[str, Any]:
        """Money per model and in all; per accepted sample (folder totals)."""
        pricing, total = self.spec.pricing, self.traffic.meter.total
        spent = self._spent()
        accepted = live.counts.accepted
        return {
            "currency": pricing.currency,
            "spent": None if spent is None else round(spent, 6),
            "this_run": None if spent is None else round(spent - self._cost_before, 6),
            "per_accepted": round(spent / accepted, 6) if spent is not None and accepted else None,
            "max_cost": self.spec.budget.max_cost,
            "cached_prompt_tokens": sum(row[2] for row in total.models.values()),
            "models": pricing.breakdown(total),
            "unpriced": pricing.unpriced(total.models),
            "stages": self._stages(),
        }

    def _stages(self) -> dict[str, dict[str, Any]]:
        """This run's calls, tokens and money by stage: first asks, regenerations, re-asks."""
        pricing, stages = self.spec.pricing, self.traffic.meter.stages
        summary: dict[str, dict[str, Any]] = {}
        for name, tally in sorted(stages.items()):
            rows = tally.models.values()
            cost = pricing.cost(tally)
            summary[name] = {
                "calls": sum(row[0] for row in rows),
                "tokens": sum(row[1] + row[3] for row in rows),
                "cost": None if cost is None else round(cost, 6),
            }
        return summary

    def _manifest_extra(self) -> dict[str, Any]:
        """More for `run.json` (a Ray run says where it ran and what it re-ran)."""
        return {}

    def _write_coverage(self, tree: ConceptTree, plans: Iterable[Plan]) -> dict[str, Any]:
        """Per-leaf, per-cell and per-node counts into `coverage.json`; its summary back."""
        return write_run_coverage(
            self.run_dir.path,
            tree,
            plans,
            tree_file=tree_path(self.spec).name,
            max_attempts=self.spec.coverage.replacements + 1,
        )

    async def _drive(
        self,
        graph: Pregel[Any, Any, Any, Any],
        saver: BaseCheckpointSaver[Any] | None,
        todo: Iterable[Plan],
        live: _Live,
    ) -> None:
        pending: Iterator[Plan] = iter(todo)
        admission = self._admission = self._admit(live)
        tasks: set[asyncio.Task[None]] = set()
        crashed: list[Exception] = []
        with self._progress(live) as (progress, task_id):

            async def one(plan: Plan, tally: Tally) -> None:
                finished = False
                try:
                    with sample_tally(tally):
                        work = self._one(graph, saver, plan, live)
                        finished = await self._in_flight.run(plan.id, work)
                except Exception as exc:  # a bug or a kill: the run stops with it
                    crashed.append(exc)
                    return
                finally:
                    admission.leave(plan.id, finished)
                if finished:
                    progress.update(task_id, completed=self._finished(live), **self._fields(live))

            try:
                for plan in pending:
                    if live.stop_reason or live.interrupted or crashed:
                        break
                    entered = await admission.enter(plan.id, self._size(plan))
                    if isinstance(entered, str):
                        self._stop(live, entered)
                        break
                    if live.stop_reason or live.interrupted or crashed:
                        admission.leave(plan.id, False)
                        break
                    task = asyncio.create_task(one(plan, entered))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                while tasks and not crashed:
                    await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                if crashed:
                    raise crashed[0]
            finally:
                for task in tasks:
                    task.cancel()
            progress.update(task_id, completed=self._finished(live), **self._fields(live))

    def _size(self, plan: Plan) -> int:
        """Planned calls of a sample at most (what budgets expect per sample scale with)."""
        return sample_calls_max(self.spec, plan)

    def _admit(self, live: _Live) -> Admission:
        """The gate of sample starts: endpoint levels, then the cost and token budgets."""
        spec = self.spec
        concurrency = spec.concurrency
        money = sample_cost_range(spec, None)
        calls = sample_calls_max(spec, None)
        return Admission(
            traffic=self.traffic,
            pricing=spec.pricing,
            fixed=concurrency.fixed,
            max_cost=spec.budget.max_cost,
            max_tokens=spec.budget.max_tokens,
            cost_before=self._cost_before,
            tokens_used=lambda: live.counts.usage.total_tokens,
            prior_cost=money[1] / calls if money is not None else 0.0,
            prior_tokens=sample_tokens_high(spec, None) / calls,
        )

    async def _one(
        self,
        graph: Pregel[Any, Any, Any, Any],
        saver: BaseCheckpointSaver[Any] | None,
        plan: Plan,
        live: _Live,
    ) -> None:
        config: RunnableConfig = {"configurable": {"thread_id": plan.id}}
        try:
            resume = saver is not None and await saver.aget_tuple(config) is not None
            final: dict[str, Any] = await graph.ainvoke(
                None if resume else {"plan": self._with_covered(plan).model_dump()},
                config,
                context=self.task.context,
                durability="async",
            )
        except Exception as exc:  # noqa: BLE001 - every error is classified and recorded
            self._on_error(plan, exc, live)
            return
        self._settle(plan, final, live)
        if saver is not None:
            await saver.adelete_thread(plan.id)

    def _settle(self, plan: Plan, final: dict[str, Any], live: _Live) -> None:
        """A finished graph's state into the run folder: accepted, or rejected with why."""
        live.consecutive_transient = 0
        record = self.task.record(plan, final) if final.get("outcome") == "completed" else None
        gate = self.gate
        repeats = gate.admit(record) if record is not None and gate is not None else None
        if record is not None and repeats is None:
            self.run_dir.write_sample(record)
            live.counts.accepted += 1
            live.new_samples += 1
        else:
            reason = str(final.get("reason") or "dialogue ended without an outcome")
            code = final.get("reason_code") or (None if final.get("reason") else "no_outcome")
            if repeats is not None:
                novelty = self.spec.novelty
                reason = near_duplicate_reason(repeats, novelty.threshold, novelty.ngram)
                code = "near_duplicate"
            partial = self.task.partial_messages(final)
            self._reject(plan, "rejected", reason, partial, final.get("usage"), live, code)
        live.counts.usage += Usage.of(final.get("usage"))

    def _with_covered(self, plan: Plan) -> Plan:
        """The plan with a few openings recently accepted on its leaf and cell to avoid."""
        k = self.spec.novelty.covered_examples
        if self.gate is None or not k:
            return plan
        fresh = [o for o in self.gate.covered(plan, k) if o not in plan.avoid]
        shown = (*plan.avoid, *fresh)[: max(k, len(plan.avoid))]
        return plan.model_copy(update={"avoid": shown}) if shown else plan

    def _check_budget(self, live: _Live) -> None:
        """Stop starting samples once the folder's total reaches a limit of `budget`."""
        limit = self.spec.budget.max_tokens
        used = live.counts.usage.total_tokens
        cap, spent = self.spec.budget.max_cost, self._spent()
        if cap is not None and spent is not None and spent >= cap and not live.stop_reason:
            self._stop(
                live,
                f"cost budget reached: {spent:,.4f} of {cap:,.4f} {self.spec.pricing.currency} "
                "spent; raise `budget.max_cost` to go on",
            )
        if limit is not None and used >= limit and not live.stop_reason:
            self._stop(
                live,
                f"token budget reached: {used:,} of {limit:,} tokens used; raise "
                "`budget.max_tokens` (or pass --budget-tokens) to go on",
            )

    def _on_error(self, plan: Plan, exc: Exception, live: _Live) -> None:
        self._count_error(plan, classify_error(exc), redact(describe_error(exc)), live)

    def _count_error(self, plan: Plan, kind: str, message: str, live: _Live) -> None:
        """A sample's error, classified where it was raised (here, or on a Ray worker)."""
        live.last_error = message
        if kind == "sample":
            self._reject(plan, "failed", message, [], None, live)
            live.consecutive_transient = 0
        elif kind == "fatal":
            self._stop(live, message)
        else:
            live.consecutive_transient += 1
            if live.consecutive_transient == MAX_CONSECUTIVE_TRANSIENT:
                # Each of these is a sample whose request failed after all its retries.
                self._stop(
                    live,
                    f"{live.consecutive_transient} samples in a row failed on endpoint errors "
                    f"after every retry, last: {message}",
                )

    def _reject(
        self,
        plan: Plan,
        status: str,
        reason: str,
        turns: list[Turn],
        usage: Any,
        live: _Live,
        code: str | None = None,
    ) -> None:
        # Checks and gates name a stable code ("loop"); an endpoint error's comes from its text.
        code = code or legacy_code(reason)
        record = RejectRecord(
            id=plan.id,
            status="failed" if status == "failed" else "rejected",
            reason=reason,
            reason_code=code,
            stage=self.spec.task,
            plan=plan,
            messages=list(turns),
            usage=dict(Usage.of(usage).as_dict()),
        )
        self.run_dir.write_reject(record)
        live.lost.append(plan)
        if status == "failed":
            live.counts.failed += 1
        else:
            live.counts.rejected += 1
        live.counts.reasons[code] = live.counts.reasons.get(code, 0) + 1

    @staticmethod
    def _finished(live: _Live) -> int:
        c = live.counts
        return c.accepted + c.rejected + c.failed

    def _fields(self, live: _Live) -> dict[str, Any]:
        c = live.counts
        return {
            "accepted": c.accepted,
            "rejected": c.rejected,
            "failed": c.failed,
            "tokens": c.usage.total_tokens,
            "status": self._status_cell(live),
        }

    def _status_cell(self, live: _Live) -> str:
        """`⇄ 24` (requests in flight allowed, `auto` or fixed) and spend, if priced."""
        cell = f"⇄ {self.traffic.slots()}" if self.traffic.flows else ""
        spent = self._spent()
        if spent is not None and self.traffic.meter.total.models:
            currency = self.spec.pricing.currency
            cell += f" {spent:,.4f} {currency}"
            if live.counts.accepted:
                cell += f" ({spent / live.counts.accepted:,.4f}/acc.)"
        return cell

    def _progress(self, live: _Live) -> ProgressScope:
        label = "dialogues" if self.spec.task == "dialogue" else "cot samples"
        return ProgressScope(self.console, live.counts, enabled=self.show_progress, label=label)
