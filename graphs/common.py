"""Pieces every sample graph shares: the ground node, the rejection update, the router.

The dialogue and chain-of-thought graphs both start by grounding their plan in
the knowledge base, both end a sample with a coded reason, and both stop at
END from any node once a sample is rejected. One copy of each lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from langgraph.graph import END
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from agents.flow import GENERATION, REGENERATION, stage
from agents.structured import ModelOutputError
from synthloom.core.records import Plan, Reason, Usage

if TYPE_CHECKING:
    from knowledge.grounding import KnowledgeBase

Outcome = Literal["running", "completed", "rejected"]

# Codes of rejections that are not turn checks (those are in graphs/checks.CHECK_CODES).
MALFORMED_OUTPUT = "malformed_output"  # the model never answered in the schema asked
NO_GROUNDING = "no_grounding"  # knowledge-drawn conditions could not be extracted


class PlannedState(TypedDict):
    """The part of a sample graph's state the ground node reads: the plan."""

    plan: dict[str, Any]


class Grounds(Protocol):
    """A graph context that may carry a knowledge base."""

    @property
    def knowledge(self) -> KnowledgeBase | None:
        """The run's knowledge base, or None for an ungrounded run."""
        ...


_PLANS: dict[int, tuple[Mapping[str, Any], Plan]] = {}
_PLANS_KEPT = 4096  # a few per sample in flight; an old entry costs one re-validation


def plan_of(state: Mapping[str, Any]) -> Plan:
    """The state's plan as a `Plan`, validated once per plan dict, not once per node.

    A graph's `plan` channel hands every node the same dict until a node replaces it
    (`ground` does, once), so identity is the key; the cached dict is kept, and
    compared by `is`, so a recycled `id()` never returns another sample's plan.
    """
    raw = state["plan"]
    hit = _PLANS.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    plan = Plan.model_validate(raw)
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.clear()
    _PLANS[id(raw)] = (raw, plan)
    return plan


def call_stage(state: Mapping[str, Any]) -> AbstractContextManager[None]:
    """The stage a role's call is counted under: a call with feedback asks again."""
    return stage(REGENERATION if state.get("feedback") else GENERATION)


def rejected(reason: Reason, usage: Usage | None = None) -> dict[str, Any]:
    """The state update that ends a sample: its outcome, its reason and the reason's code."""
    update: dict[str, Any] = {"outcome": "rejected", "reason": reason.text}
    update["reason_code"] = reason.code
    if usage is not None:
        update["usage"] = usage.as_dict()
    return update


def unparsed(exc: ModelOutputError) -> dict[str, Any]:
    """A role's output that stayed malformed after every re-ask ends the sample."""
    return rejected(Reason(MALFORMED_OUTPUT, exc.reason), exc.usage)


async def ground(state: PlannedState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Retrieve the plan's knowledge and demos; merge knowledge-drawn conditions into it."""
    context: Grounds = runtime.context
    if context.knowledge is None:
        return {}
    # Only a grounded run needs the knowledge stack (Chroma and all under it).
    from knowledge.extraction import ConditionExtractionError
    from knowledge.grounding import ground_plan

    try:
        plan, found = await ground_plan(context.knowledge, plan_of(state))
    except ConditionExtractionError as exc:
        return rejected(Reason(NO_GROUNDING, exc.reason), exc.usage)
    return {
        "plan": plan.model_dump(),
        "grounding": found.as_state(),
        "usage": found.usage.as_dict(),
    }


def is_rejected(state: Mapping[str, Any]) -> bool:
    """Whether a node has ended this sample."""
    return state.get("outcome") == "rejected"


def end_if_rejected(then: str) -> tuple[Callable[[Mapping[str, Any]], str], list[str]]:
    """A router to `then` unless the sample was rejected, with its destinations for drawing.

    Use as `builder.add_conditional_edges(node, *end_if_rejected("next"))`: the
    destination list keeps the drawn topology exact (`next` and END, nothing else).
    """

    def route(state: Mapping[str, Any]) -> str:
        return END if is_rejected(state) else then

    route.__name__ = f"end_if_rejected_else_{then}"
    return route, [then, END]
