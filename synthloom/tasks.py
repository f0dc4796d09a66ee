"""Task adapters: what the runner needs to know about each kind of sample.

A task names its roles, builds its graph and runtime context, and turns a
finished graph state into an output record. The runner stays task-agnostic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langgraph.graph import StateGraph
from rich.console import Console

from agents.base import language_of
from agents.llm import model_name
from agents.reasoning import build_cot_roles
from agents.roles import build_roles
from graphs.checks import default_context
from graphs.cot import CotContext, build_cot_graph
from graphs.dialogue import DialogueContext, build_dialogue_graph
from graphs.openings import OpeningCheck
from synthloom import __version__
from synthloom.core.layouts import render_cot
from synthloom.core.records import Grounded, Plan, SampleMeta, SampleRecord, Turn, Usage
from synthloom.rundir import now_iso
from synthloom.spec import RunSpec

TASK_ROLES: dict[str, tuple[str, ...]] = {
    "dialogue": ("user_simulator", "assistant"),
    "cot": ("user_simulator", "assistant", "judge"),
}


def roles_for(spec: RunSpec) -> tuple[str, ...]:
    """The model roles a spec's task calls (no judge for unverified CoT)."""
    if spec.task == "cot" and not spec.cot.verify:
        return ("user_simulator", "assistant")
    return TASK_ROLES[spec.task]


class Task(Protocol):
    """The per-task pieces the runner drives."""

    context: Any

    def build_graph(self) -> StateGraph[Any, Any, Any, Any]:
        """The task's uncompiled LangGraph state machine."""
        ...

    def record(self, plan: Plan, final: dict[str, Any]) -> SampleRecord:
        """An accepted sample as an output record."""
        ...

    def partial_messages(self, final: dict[str, Any]) -> list[Turn]:
        """What a rejected sample got to, kept on its reject record."""
        ...

    def grounded(
        self, console: Console | None, *, progress: bool
    ) -> AbstractAsyncContextManager[None]:
        """An async context holding the spec's knowledge base open for the run."""
        ...


class _Grounded:
    """The knowledge-base half of a task: open it for a run, hand it to the graph."""

    spec: RunSpec
    context: Any
    chat_models: dict[str, BaseChatModel]

    @asynccontextmanager
    async def grounded(self, console: Console | None, *, progress: bool) -> AsyncIterator[None]:
        """Ingest the spec's sources and demos (a no-op when unchanged), then hold the base.

        One process holds a local base for the whole run (Chroma's local mode is not
        process-safe); it is closed, and the lock released, however the run ends.
        """
        if self.spec.knowledge is None:
            yield  # an ungrounded run never imports the knowledge stack (Chroma and all)
            return
        from knowledge.grounding import open_knowledge

        model = self.chat_models["assistant"]
        with open_knowledge(
            self.spec.knowledge, model=model, console=console, progress=progress
        ) as base:
            unbound = self.context
            self.context = dataclasses.replace(unbound, knowledge=base)
            try:
                yield
            finally:
                self.context = unbound
                if base is not None:
                    _warn_missing(base.missing_conditions(), console)


def _warn_missing(missing: dict[str, tuple[str, ...]], console: Console | None) -> None:
    """Say which knowledge-drawn conditions no passage backed: their samples lack them."""
    if not missing or console is None:
        return
    per_attribute: dict[str, int] = {}
    for attributes in missing.values():
        for name in attributes:
            per_attribute[name] = per_attribute.get(name, 0) + 1
    listed = ", ".join(
        f"{name} on {n} concept{'s' if n != 1 else ''}" for name, n in sorted(per_attribute.items())
    )
    console.print(
        f"[yellow]warning[/]: the condition extractor cited no valid passage for {listed}; "
        "those samples go without the value (metadata `knowledge_conditions_missing`), "
        "nothing was cached, and the next run asks again"
    )


def _provenance(grounding: Grounded) -> dict[str, Any]:
    """What a sample was shown, so curation can check it without the knowledge base.

    `sources` are the chunks in prompt order (ids resolve with `Retriever.get` and
    `synthloom kb`), with their text for faithfulness checks; `demos` carry their turns
    so copying from an exemplar can be caught.
    """
    keys = ("id", "source", "title", "section", "position", "text")
    meta: dict[str, Any] = {
        "sources": [{k: chunk[k] for k in keys if k in chunk} for chunk in grounding["knowledge"]],
        "demos": [{"id": d["id"], "messages": d["messages"]} for d in grounding["demos"]],
    }
    if grounding["knowledge_conditions"]:
        meta["knowledge_conditions"] = dict(grounding["knowledge_conditions"])
    if grounding.get("missing_conditions"):
        meta["knowledge_conditions_missing"] = list(grounding.get("missing_conditions", []))
    return meta


def _base_metadata(
    spec: RunSpec, plan: Plan, final: dict[str, Any], models: dict[str, str]
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": plan.id,
        "index": plan.index,
        "task": spec.task,
        "topic": plan.topic,
        "conditions": plan.conditions,
        "language": language_of(plan),
    }
    if plan.round:
        meta["round"] = plan.round
    if plan.leaf is not None:
        meta["leaf"] = plan.leaf
    if plan.attempt:
        meta["attempt"] = plan.attempt
    if plan.parent_id:
        meta |= {"parent_id": plan.parent_id, "operation": plan.operation}
    grounding = final.get("grounding")
    if grounding:
        meta |= _provenance(grounding)
    return meta | {
        "models": models,
        "usage": Usage.of(final.get("usage")).as_dict(),
        "spec_fingerprint": spec.plan_fingerprint(),
        "synthloom_version": __version__,
        "created_at": now_iso(),
    }


class DialogueTask(_Grounded):
    """Multi-turn dialogues: the user simulator and the assistant role-play."""

    def __init__(self, spec: RunSpec, models: dict[str, BaseChatModel]) -> None:
        self.spec = spec
        self.chat_models = models
        user, assistant = build_roles(
            models["user_simulator"],
            models["assistant"],
            system_prompt=spec.dialogue.assistant_system_prompt,
            max_reasks=spec.dialogue.max_reasks,
            reason_first=spec.dialogue.reasoning,
            user_max_chars=spec.dialogue.checks.max_user_chars,
            source=spec.prompts.source(),
        )
        checks = spec.dialogue.checks
        self.context = DialogueContext(
            user=user,
            assistant=assistant,
            min_rounds=spec.dialogue.rounds.min,
            max_regenerations=spec.dialogue.max_regenerations,
            trim_truncated=spec.dialogue.on_truncated == "trim",
            checks=checks,
            check_context=default_context(
                spec.dialogue.assistant_system_prompt, words=checks.prompt_leak_words
            ),
        )
        self.models = {role: model_name(m) for role, m in models.items()}

    def build_graph(self) -> StateGraph[Any, Any, Any, Any]:
        """The dialogue graph."""
        return build_dialogue_graph()

    def record(self, plan: Plan, final: dict[str, Any]) -> SampleRecord:
        """OpenAI chat messages: the system prompt (optional), then the turns."""
        turns: list[Turn] = list(final.get("turns", []))
        messages: list[Turn] = []
        if self.spec.dialogue.include_system_prompt:
            # The plan as the graph left it (with knowledge-drawn conditions), without the
            # reference snippets and demos: those scaffold generation, not the task.
            shown = Plan.model_validate(final.get("plan") or plan.model_dump())
            messages.append(
                {"role": "system", "content": self.context.assistant.system_message(shown)}
            )
        hidden: dict[str, str] = {}
        for turn in turns:
            if "reasoning" in turn:
                hidden[str(len(messages))] = turn["reasoning"]
            messages.append({"role": turn["role"], "content": turn["content"]})
        meta = _base_metadata(self.spec, plan, final, self.models)
        if hidden:
            meta["reasoning"] = hidden  # message index → the assistant's hidden reasoning
        meta |= {
            "rounds": sum(1 for t in turns if t["role"] == "assistant"),
            "target_rounds": plan.rounds,
            "ended_by": final.get("ended_by"),
            "regenerations": final.get("regenerations", 0),
            "trimmed_turns": final.get("trimmed", 0),
        }
        if final.get("novelty_retries"):
            meta["novelty_retries"] = final["novelty_retries"]  # openings that repeated
        return SampleRecord(messages=messages, metadata=SampleMeta.model_validate(meta))

    def partial_messages(self, final: dict[str, Any]) -> list[Turn]:
        """The accepted turns before the rejection."""
        return list(final.get("turns", []))


class CotTask(_Grounded):
    """Chain-of-thought samples: question, numbered steps, answer, independent check."""

    def __init__(self, spec: RunSpec, models: dict[str, BaseChatModel]) -> None:
        self.spec = spec
        self.chat_models = models
        cot = spec.cot
        writer, reasoner, verifier = build_cot_roles(
            models["user_simulator"],
            models["assistant"],
            models.get("judge", models["assistant"]),
            system_prompt=cot.system_prompt,
            min_steps=cot.min_steps,
            max_reasks=cot.max_reasks,
            source=spec.prompts.source(),
        )
        self.context = CotContext(
            writer=writer,
            reasoner=reasoner,
            verifier=verifier if cot.verify else None,
            min_steps=cot.min_steps,
            max_steps=cot.max_steps,
            max_step_retries=cot.max_step_retries,
        )
        self.models = {role: model_name(m) for role, m in models.items()}

    def build_graph(self) -> StateGraph[Any, Any, Any, Any]:
        """The chain-of-thought graph."""
        return build_cot_graph()

    def record(self, plan: Plan, final: dict[str, Any]) -> SampleRecord:
        """Question as the user turn; reasoning and answer in the configured layout."""
        steps: list[str] = list(final.get("steps", []))
        answer = str(final.get("answer") or "")
        messages: list[Turn] = []
        if self.spec.cot.include_system_prompt:
            messages.append({"role": "system", "content": self.spec.cot.system_prompt})
        messages.append({"role": "user", "content": str(final.get("question", ""))})
        messages.append(
            {"role": "assistant", "content": render_cot(steps, answer, self.spec.cot.layout)}
        )
        meta = _base_metadata(self.spec, plan, final, self.models)
        meta["cot"] = {
            "question": final.get("question"),
            "steps": steps,
            "answer": answer,
            "check": final.get("check"),
            "layout": self.spec.cot.layout,
            "reasoning_retries": final.get("reasoning_retries", 0),
        }
        if final.get("novelty_retries"):
            meta["novelty_retries"] = final["novelty_retries"]  # questions that repeated
        return SampleRecord(messages=messages, metadata=SampleMeta.model_validate(meta))

    def partial_messages(self, final: dict[str, Any]) -> list[Turn]:
        """The question and the steps reached, for the reject record."""
        out: list[Turn] = []
        if final.get("question"):
            out.append({"role": "user", "content": str(final["question"])})
        steps = final.get("steps") or []
        if steps:
            out.append({"role": "assistant", "content": render_cot(steps, "", "steps")})
        return out


def use_novelty(task: Task, gate: OpeningCheck | None) -> None:
    """Hand the run's novelty gate to the task's graph: its opening (or question) check."""
    if isinstance(task.context, DialogueContext | CotContext):
        task.context = dataclasses.replace(task.context, novelty=gate)


def make_task(spec: RunSpec, models: dict[str, BaseChatModel]) -> Task:
    """The adapter for the spec's task."""
    if spec.task == "cot":
        return CotTask(spec, models)
    return DialogueTask(spec, models)
