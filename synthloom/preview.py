"""Look inside one sample before paying for a thousand: `synthloom preview`.

Plan N of a spec is played through the run's own graph and roles, with a callback
handler on every model call: the prompt as it is sent, the reply, its latency and
tokens, and (between calls) each node's verdict — a turn accepted, sent back to be
regenerated with the reason, or the sample rejected. Nothing is written to the
run's output folder: no checkpointer, no run folder, the concept tree read but not
saved (an `expand:` tree not grown yet is previewed ungrown, and said so). The
knowledge base is ingested as a run would (it lives in its own folder).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig
from rich.console import Console
from rich.markup import escape

from synthloom.core.records import Plan, RejectRecord, Usage
from synthloom.estimate import Estimate, estimate
from synthloom.planning import Planner
from synthloom.run_tree import load_run_tree, tree_path
from synthloom.spec import RunSpec
from synthloom.tasks import make_task

# Characters of a retrieved snippet shown in the plan header (prompts are shown whole).
SNIPPET_CHARS = 240

Pause = Callable[["ModelCall"], Awaitable[None]]
# Which role's model a graph node calls (what a call is priced at).
NODE_ROLES = {
    "simulate_user": "user_simulator",
    "write_question": "user_simulator",
    "verify": "judge",
}


@dataclass
class ModelCall:
    """One model call of the previewed sample."""

    number: int
    node: str
    model: str
    messages: list[tuple[str, str]]
    reply: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class PreviewResult:
    """What a preview played: the plan, each call, each verdict, and the record."""

    plan: Plan
    calls: list[ModelCall]
    verdicts: list[str]
    outcome: str
    record: dict[str, Any]
    usage: Usage
    cost: Estimate
    tree_grown: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def projected_tokens(self) -> int:
        """This sample's tokens times the run's samples: a first figure to budget on."""
        return self.usage.total_tokens * self.cost.samples

    def money(self, spec: RunSpec) -> float | None:
        """What this sample's calls cost at `pricing`; None if a model called has no price."""
        total = 0.0
        for call in self.calls:
            model = getattr(spec.models, NODE_ROLES.get(call.node, "assistant")).model
            price = spec.pricing.price(model)
            if price is None:
                return None
            total += price.of(call.prompt_tokens, call.completion_tokens)
        return total


class CallTrace(AsyncCallbackHandler):
    """Prints each chat-model call as it is sent and as it returns (and may pause first)."""

    raise_error = True  # a user who stops at a pause stops the sample, not just the print

    def __init__(self, console: Console, pause: Pause | None = None) -> None:
        """Narrate to `console`; `pause` is awaited before each call is sent."""
        self.console = console
        self.pause = pause
        self.calls: list[ModelCall] = []
        self._open: dict[UUID, tuple[float, ModelCall]] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Show the prompt; in interactive mode wait until the user lets it go."""
        meta = metadata or {}
        call = ModelCall(
            number=len(self.calls) + 1,
            node=str(meta.get("langgraph_node", "?")),
            model=str(meta.get("ls_model_name") or serialized.get("name") or "?"),
            messages=[(m.type, _text(m.content)) for m in messages[0]],
        )
        self.calls.append(call)
        self.console.rule(f"call {call.number} · {call.node} · {call.model}")
        for role, text in call.messages:
            self.console.print(f"[bold]{role}[/]: {escape(text)}", highlight=False)
        if self.pause is not None:
            await self.pause(call)
        self._open[run_id] = (time.monotonic(), call)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Show the reply with its latency and tokens."""
        started, call = self._open.pop(run_id, (time.monotonic(), None))
        if call is None:
            return
        call.latency_s = time.monotonic() - started
        generation = response.generations[0][0] if response.generations else None
        message = getattr(generation, "message", None)
        usage = getattr(message, "usage_metadata", None) or {}
        call.prompt_tokens = int(usage.get("input_tokens", 0))
        call.completion_tokens = int(usage.get("output_tokens", 0))
        call.reply = _reply_text(message) if message is not None else str(generation or "")
        self.console.print(
            f"[dim]← {call.latency_s:.2f} s · {call.prompt_tokens} prompt + "
            f"{call.completion_tokens} completion tokens[/]"
        )
        self.console.print(f"[bold]reply[/]: {escape(call.reply)}", highlight=False)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A call that failed (a retry may follow)."""
        started, call = self._open.pop(run_id, (time.monotonic(), None))
        if call is None:
            return
        call.latency_s = time.monotonic() - started
        call.error = f"{type(error).__name__}: {error}"
        self.console.print(f"[red]← failed after {call.latency_s:.2f} s: {escape(call.error)}[/]")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


def _reply_text(message: Any) -> str:
    text = _text(getattr(message, "content", ""))
    calls = getattr(message, "tool_calls", None) or []
    if calls:  # structured output via tool calling: show the arguments
        text += "".join(json.dumps(c.get("args"), ensure_ascii=False) for c in calls)
    return text


def verdicts_of(node: str, update: dict[str, Any]) -> list[str]:
    """What a node's state update decided, in words (checks, regenerations, outcome)."""
    said: list[str] = []
    for turn in update.get("turns") or []:
        said.append(f"{node}: {turn['role']} turn accepted (checks passed)")
    if update.get("feedback"):
        said.append(f"{node}: regenerate — {update['feedback']}")
    if update.get("wants_end"):
        said.append(f"{node}: the user ends the conversation")
    if "steps" in update and update.get("steps"):
        said.append(f"{node}: step {len(update['steps'])} accepted (checks passed)")
    if update.get("question"):
        said.append(f"{node}: question accepted")
    if update.get("answer"):
        said.append(f"{node}: answer stated")
    check = update.get("check")
    if isinstance(check, dict):
        said.append(f"{node}: verifier says {json.dumps(check, ensure_ascii=False)}")
    if update.get("outcome") == "rejected":
        said.append(f"{node}: sample rejected — {update.get('reason')}")
    elif update.get("outcome") == "completed":
        said.append(f"{node}: sample completed ({update.get('ended_by') or 'done'})")
    return said


def _show_plan(console: Console, spec: RunSpec, plan: Plan, grown: bool) -> None:
    console.rule(f"plan {plan.index} of {spec.samples} · id {plan.id}")
    console.print(f"topic: {escape(plan.topic)}", highlight=False)
    if plan.leaf is not None:
        console.print(f"leaf: {plan.leaf}")
    if not grown:
        console.print(
            "[yellow]note[/]: the spec grows its concept tree (`expand:`) and it is not grown "
            "yet; this plan is drawn from the ungrown tree"
        )
    for name, value in plan.conditions.items():
        console.print(f"condition {name}: {escape(value)}", highlight=False)
    console.print(f"rounds: {plan.rounds}")


def _show_grounding(console: Console, grounding: dict[str, Any]) -> None:
    for n, chunk in enumerate(grounding.get("knowledge") or [], start=1):
        text = " ".join(str(chunk.get("text", "")).split())
        shown = text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")
        line = f"snippet {n} ({chunk.get('source')}): {shown}"
        console.print(escape(line), highlight=False)
    for demo in grounding.get("demos") or []:
        turns = demo.get("messages") or []
        console.print(escape(f"demo {demo.get('id')}: {len(turns)} messages"), highlight=False)
    for name, value in (grounding.get("knowledge_conditions") or {}).items():
        console.print(f"condition {name} (from knowledge): {escape(str(value))}", highlight=False)


async def preview_sample(
    spec: RunSpec,
    models: dict[str, BaseChatModel],
    *,
    index: int = 0,
    console: Console,
    pause: Pause | None = None,
) -> PreviewResult:
    """Play plan `index` of `spec` once, narrating to `console`; write nothing to `output`."""
    if not 0 <= index < spec.samples:
        raise ValueError(f"--index: the spec plans samples 0..{spec.samples - 1}, not {index}")
    tree = load_run_tree(spec)
    grown = spec.concepts is None or spec.concepts.expand is None or tree_path(spec).exists()
    planner = Planner(spec, tree)
    plan = planner.plan(index)
    _show_plan(console, spec, plan, grown)
    task = make_task(spec, models)
    trace = CallTrace(console, pause)
    verdicts: list[str] = []
    final: dict[str, Any] = {}
    async with task.grounded(console, progress=False):
        graph = task.build_graph().compile(name=spec.task)
        config: RunnableConfig = {"callbacks": [trace], "recursion_limit": 200}
        async for mode, chunk in graph.astream(
            {"plan": plan.model_dump()},
            config,
            context=task.context,
            stream_mode=["updates", "values"],
        ):
            data: dict[str, Any] = dict(cast("dict[str, Any]", chunk or {}))
            if mode == "values":
                final = data
                continue
            for node, update in data.items():
                if node == "ground" and update and update.get("grounding"):
                    _show_grounding(console, update["grounding"])
                for line in verdicts_of(node, update or {}):
                    verdicts.append(line)
                    console.print(f"[bold cyan]▸ {escape(line)}[/]", highlight=False)
        outcome = str(final.get("outcome") or "rejected")
        if outcome == "completed":
            record = task.record(plan, final).model_dump(mode="json")
        else:
            record = RejectRecord(
                id=plan.id,
                status="rejected",
                reason=str(final.get("reason") or "ended without an outcome"),
                reason_code=str(final.get("reason_code") or "no_outcome"),
                stage=spec.task,
                plan=plan,
                messages=task.partial_messages(final),
                usage=dict(Usage.of(final.get("usage")).as_dict()),
            ).as_json()
    return PreviewResult(
        plan=plan,
        calls=trace.calls,
        verdicts=verdicts,
        outcome=outcome,
        record=record,
        usage=Usage.of(final.get("usage")),
        cost=estimate(spec, planner.plans()),
        tree_grown=grown,
    )


def summary_lines(result: PreviewResult, spec: RunSpec) -> Sequence[str]:
    """The closing lines: calls, time, tokens, and what the whole run would take."""
    calls = result.calls
    wall = sum(c.latency_s for c in calls)
    samples = result.cost.samples
    lines = [
        f"{result.outcome}: {len(calls)} model calls, {wall:.1f} s in calls, "
        f"{result.usage.total_tokens:,} tokens ({result.usage.prompt_tokens:,} prompt + "
        f"{result.usage.completion_tokens:,} completion); nothing written to {spec.output}",
        f"whole run at this sample's rate: about {result.projected_tokens():,} tokens for "
        f"{samples:,} samples",
    ]
    money = result.money(spec)
    if money is None:
        lines.append(
            "money: a model has no price (pricing.models.<model>: {input_per_1m, output_per_1m})"
        )
    else:
        lines.append(
            f"money: {money:.4f} for this sample → about {money * samples:.2f} for "
            f"{samples:,} samples (pricing.models, per million tokens)"
        )
    return lines
