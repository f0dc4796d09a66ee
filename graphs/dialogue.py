"""The dialogue graph: a simulated user and the assistant take turns (role-play).

    START → ground → simulate_user ⇄ respond ─→ finish → END
                          │  (each node loops on itself to regenerate a bad turn)
                          └→ finish (natural end), or END (rejected) from any node

`ground` retrieves the plan's knowledge snippets, demos and knowledge-drawn
conditions once (when the run has a knowledge base); both roles then see them.

The person's opening turn is first checked against the run's accepted openings
(`graphs/openings.py`, when the context has a novelty gate): a repeat is asked
again with the accepted ones shown as covered.

Each role's node checks its own candidate turn (`check_turn`, a pure function)
before the turn joins the dialogue: a bad one is regenerated with the reason as
feedback, within a budget, and then the sample is rejected with it. Checking in
the node that generated the turn halves the graph steps, and so the checkpoint
writes, per round. State is JSON-native so any LangGraph checkpointer can persist it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from agents.roles import Assistant, ModelOutputError, UserSimulator
from graphs.checks import (
    DEFAULT_CHECKS,
    CheckContext,
    TurnChecks,
    first_problem,
    next_role,
    strip_speaker_label,
    trim_to_sentence,
)
from graphs.common import (
    Outcome,
    call_stage,
    end_if_rejected,
    ground,
    is_rejected,
    plan_of,
    rejected,
    unparsed,
)
from graphs.openings import OpeningCheck, check_opening
from synthloom.core.records import Grounded, Reason, Turn, UsageDict, add_usage

if TYPE_CHECKING:
    from knowledge.grounding import KnowledgeBase


class DialogueInput(TypedDict):
    """What a caller provides: the sample's plan (as `Plan.model_dump()`)."""

    plan: dict[str, Any]


class DialogueState(TypedDict, total=False):
    """The dialogue as it grows; `turns` and `usage` only accumulate."""

    plan: dict[str, Any]
    grounding: Grounded
    turns: Annotated[list[Turn], operator.add]
    usage: Annotated[UsageDict, add_usage]
    wants_end: bool
    attempts: int
    regenerations: int
    novelty_retries: int
    trimmed: int
    feedback: str | None
    outcome: Outcome
    ended_by: Literal["budget", "user"] | None
    reason: str | None
    reason_code: str | None


class DialogueOutput(TypedDict, total=False):
    """What a finished run of the graph reports."""

    plan: dict[str, Any]
    grounding: Grounded
    turns: list[Turn]
    usage: UsageDict
    outcome: Outcome
    ended_by: Literal["budget", "user"] | None
    reason: str | None
    reason_code: str | None
    regenerations: int
    trimmed: int
    novelty_retries: int


@dataclass(frozen=True)
class DialogueContext:
    """Run-scoped dependencies: the two roles, the knowledge base and the budgets."""

    user: UserSimulator
    assistant: Assistant
    min_rounds: int = 1
    max_regenerations: int = 2
    trim_truncated: bool = False
    knowledge: KnowledgeBase | None = None
    novelty: OpeningCheck | None = None
    checks: TurnChecks = DEFAULT_CHECKS
    check_context: CheckContext | None = None


def _rounds_done(turns: list[Turn]) -> int:
    return sum(1 for t in turns if t["role"] == "assistant")


async def simulate_user(state: DialogueState, runtime: Runtime[DialogueContext]) -> dict[str, Any]:
    """Ask the user simulator for the person's next message."""
    ctx = runtime.context
    turns = state.get("turns", [])
    can_end = _rounds_done(turns) >= ctx.min_rounds
    try:
        with call_stage(state):
            reply, usage = await ctx.user.next_turn(
                plan_of(state),
                turns,
                can_end=can_end,
                feedback=state.get("feedback"),
                grounding=state.get("grounding"),
            )
    except ModelOutputError as exc:
        return unparsed(exc)
    if reply.end_conversation and can_end:
        return {"usage": usage.as_dict(), "wants_end": True}
    turn: Turn = {"role": "user", "content": strip_speaker_label(reply.message)}
    if ctx.novelty is not None and not turns:
        repeated = check_opening(state, turn, ctx.novelty, ctx.max_regenerations)
        if repeated is not None:
            return {"usage": usage.as_dict(), **repeated}
    return {"usage": usage.as_dict(), **check_turn(state, turn, ctx)}


async def respond(state: DialogueState, runtime: Runtime[DialogueContext]) -> dict[str, Any]:
    """Ask the assistant to answer the dialogue so far."""
    try:
        with call_stage(state):
            reply = await runtime.context.assistant.reply(
                plan_of(state),
                state.get("turns", []),
                feedback=state.get("feedback"),
                grounding=state.get("grounding"),
            )
    except ModelOutputError as exc:
        return unparsed(exc)
    text, truncated = reply.text, reply.truncated
    update: dict[str, Any] = {"usage": reply.usage.as_dict()}
    if truncated and runtime.context.trim_truncated and (trimmed := trim_to_sentence(text)):
        update["trimmed"] = state.get("trimmed", 0) + 1
        text, truncated = trimmed, False
    turn: Turn = {"role": "assistant", "content": text}
    if reply.reasoning:
        turn["reasoning"] = reply.reasoning
    return {
        **update,
        **check_turn(state, turn, runtime.context, truncated=truncated),
    }


def check_turn(
    state: DialogueState, candidate: Turn, ctx: DialogueContext, *, truncated: bool = False
) -> dict[str, Any]:
    """Accept the candidate turn, or send it back with the reason, or reject the sample."""
    problem = first_problem(
        candidate,
        state.get("turns", []),
        truncated=truncated,
        checks=ctx.checks,
        context=ctx.check_context,
    )
    if problem is None:
        return {"turns": [candidate], "attempts": 0, "feedback": None}
    attempts = state.get("attempts", 0) + 1
    if attempts > ctx.max_regenerations:
        return rejected(
            Reason(problem.code, f"{problem.text} (still failing after {attempts} tries)")
        )
    return {
        "attempts": attempts,
        "regenerations": state.get("regenerations", 0) + 1,
        "feedback": problem.text,
    }


def finish(state: DialogueState) -> dict[str, Any]:
    """Close a dialogue that reached its turn budget or a natural end."""
    return {"outcome": "completed", "ended_by": "user" if state.get("wants_end") else "budget"}


def route_next(
    state: DialogueState,
) -> Literal["simulate_user", "respond", "finish", "__end__"]:
    """Whose turn it is now (the same role again after a bad turn), or whether it is over."""
    if is_rejected(state):
        return "__end__"
    if state.get("wants_end"):
        return "finish"
    turns = state.get("turns", [])
    target = int(state["plan"]["rounds"])
    if turns and turns[-1]["role"] == "assistant" and _rounds_done(turns) >= target:
        return "finish"
    return "respond" if next_role(turns) == "assistant" else "simulate_user"


def build_dialogue_graph() -> StateGraph[DialogueState, DialogueContext, DialogueInput, Any]:
    """The uncompiled graph; callers compile it with their own checkpointer."""
    builder = StateGraph(
        DialogueState,
        context_schema=DialogueContext,
        input_schema=DialogueInput,
        output_schema=DialogueOutput,
    )
    builder.add_node("ground", ground)
    builder.add_node("simulate_user", simulate_user)
    builder.add_node("respond", respond)
    builder.add_node("finish", finish)
    builder.add_edge(START, "ground")
    # A sample whose knowledge could not be prepared stops; otherwise the person opens.
    builder.add_conditional_edges("ground", *end_if_rejected("simulate_user"))
    builder.add_conditional_edges("simulate_user", route_next)
    builder.add_conditional_edges("respond", route_next)
    builder.add_edge("finish", END)
    return builder
