"""The chain-of-thought graph: question → steps (one per iteration) → answer → check.

    START → ground → write_question → reason_step → check_step ─┬→ reason_step (next / retry)
                                                                └→ state_answer → verify ─┬→ finish
                                                                     retry_reasoning ←────┘
    retry_reasoning → reason_step (at most once)

`ground` retrieves the plan's knowledge snippets, demos and knowledge-drawn
conditions once (when the run has a knowledge base): the question is built on the
snippets, the reasoning and answer keep to them, and the demos show format and depth.

A step that repeats an earlier one is regenerated with feedback under a budget;
a reasoner that never declares itself ready hits the step budget; a verifier
disagreement retries the reasoning once. Each ends with a recorded reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from agents.reasoning import QuestionWriter, Reasoner, Verifier
from agents.structured import ModelOutputError
from graphs.checks import question_problem, step_problem
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

MAX_REASONING_RETRIES = 1


class CotInput(TypedDict):
    """What a caller provides: the sample's plan (as `Plan.model_dump()`)."""

    plan: dict[str, Any]


class CotState(TypedDict, total=False):
    """A CoT sample as it is built; `steps` is replaced whole, never mutated."""

    plan: dict[str, Any]
    grounding: Grounded
    question: str
    steps: list[str]
    candidate: str | None
    ready: bool
    step_attempts: int
    feedback: str | None
    answer: str | None
    check: dict[str, Any] | None
    reasoning_retries: int
    novelty_retries: int
    usage: Annotated[UsageDict, add_usage]
    outcome: Outcome
    reason: str | None
    reason_code: str | None


class CotOutput(TypedDict, total=False):
    """What a finished run of the graph reports."""

    plan: dict[str, Any]
    grounding: Grounded
    question: str
    steps: list[str]
    answer: str | None
    check: dict[str, Any] | None
    reasoning_retries: int
    novelty_retries: int
    usage: UsageDict
    outcome: Outcome
    reason: str | None
    reason_code: str | None


@dataclass(frozen=True)
class CotContext:
    """Run-scoped dependencies: the three roles, the knowledge base and the budgets."""

    writer: QuestionWriter
    reasoner: Reasoner
    verifier: Verifier | None
    min_steps: int = 1
    max_steps: int = 6
    max_step_retries: int = 2
    knowledge: KnowledgeBase | None = None
    novelty: OpeningCheck | None = None


async def write_question(state: CotState, runtime: Runtime[CotContext]) -> dict[str, Any]:
    """Write the question for the plan's concept and conditions (again, after feedback)."""
    try:
        with call_stage(state):
            written, usage = await runtime.context.writer.write(
                plan_of(state),
                feedback=state.get("feedback"),
                grounding=state.get("grounding"),
            )
    except ModelOutputError as exc:
        return unparsed(exc)
    question = written.question.strip()
    update: dict[str, Any] = {"usage": usage.as_dict(), "steps": []}
    problem = question_problem(question)
    gate = runtime.context.novelty
    if problem is None and gate is not None:
        # A question the accepted set already asks is written again, shown as covered.
        turn: Turn = {"role": "user", "content": question}
        limit = runtime.context.max_step_retries
        repeated = check_opening(state, turn, gate, limit, attempts_key="step_attempts")
        if repeated is not None:
            return update | repeated
    if problem is None:
        return update | {"question": question, "feedback": None, "step_attempts": 0}
    attempts = state.get("step_attempts", 0) + 1
    if attempts > runtime.context.max_step_retries:
        text = f"{problem.text} (still failing after {attempts} tries)"
        return update | rejected(Reason(problem.code, text))
    return update | {"step_attempts": attempts, "feedback": problem.text}


async def reason_step(state: CotState, runtime: Runtime[CotContext]) -> dict[str, Any]:
    """Ask for the next step, given every step so far."""
    try:
        with call_stage(state):
            step, usage = await runtime.context.reasoner.next_step(
                state["question"],
                state.get("steps", []),
                feedback=state.get("feedback"),
                grounding=state.get("grounding"),
            )
    except ModelOutputError as exc:
        return unparsed(exc)
    return {"candidate": step.step.strip(), "ready": step.ready_to_answer, "usage": usage.as_dict()}


def check_step(state: CotState, runtime: Runtime[CotContext]) -> dict[str, Any]:
    """Accept a new step, send a repeated one back, or end a reasoner that loops."""
    ctx = runtime.context
    steps = state.get("steps", [])
    candidate = state.get("candidate") or ""
    problem = step_problem(candidate, steps)
    if problem is not None:
        attempts = state.get("step_attempts", 0) + 1
        if attempts > ctx.max_step_retries:
            text = f"{problem.text} (still failing after {attempts} tries)"
            return {"candidate": None, **rejected(Reason(problem.code, text))}
        # A refused step's "ready" flag must not carry the sample to its answer.
        feedback = problem.text
        return {"candidate": None, "ready": False, "step_attempts": attempts, "feedback": feedback}
    new_steps = [*steps, candidate]
    ready = bool(state.get("ready")) and len(new_steps) >= ctx.min_steps
    if not ready and len(new_steps) >= ctx.max_steps:
        text = f"step budget exhausted: no answer after {ctx.max_steps} steps"
        reason = Reason("step_budget", text)
        return {"steps": new_steps, "candidate": None, **rejected(reason)}
    return {
        "steps": new_steps,
        "candidate": None,
        "ready": ready,
        "step_attempts": 0,
        "feedback": None,
    }


async def state_answer(state: CotState, runtime: Runtime[CotContext]) -> dict[str, Any]:
    """State the final answer the steps lead to."""
    try:
        answer, usage = await runtime.context.reasoner.answer(
            state["question"], state["steps"], grounding=state.get("grounding")
        )
    except ModelOutputError as exc:
        return unparsed(exc)
    return {"answer": answer.answer.strip(), "usage": usage.as_dict()}


async def verify(state: CotState, runtime: Runtime[CotContext]) -> dict[str, Any]:
    """Have the independent verifier check the answer; a second disagreement rejects."""
    verifier = runtime.context.verifier
    if verifier is None:
        return {"check": None}
    try:
        verdict, usage = await verifier.check(
            state["question"], state["steps"], state.get("answer") or ""
        )
    except ModelOutputError as exc:
        return unparsed(exc)
    update: dict[str, Any] = {"check": verdict.model_dump(), "usage": usage.as_dict()}
    if verdict.verdict == "disagree" and state.get("reasoning_retries", 0) >= MAX_REASONING_RETRIES:
        text = f"verifier disagreed after a retry: {verdict.explanation}".rstrip(": ")
        update |= rejected(Reason("verifier_disagreed", text))
    return update


def retry_reasoning(state: CotState) -> dict[str, Any]:
    """Start the reasoning over once, with the verifier's objection as feedback."""
    check = state.get("check") or {}
    return {
        "steps": [],
        "answer": None,
        "ready": False,
        "step_attempts": 0,
        "reasoning_retries": state.get("reasoning_retries", 0) + 1,
        "feedback": f"a verifier disagreed with the earlier answer: {check.get('explanation', '')}",
    }


def finish(state: CotState) -> dict[str, Any]:
    """Close an accepted sample."""
    return {"outcome": "completed"}


def route_after_question(
    state: CotState,
) -> Literal["write_question", "reason_step", "__end__"]:
    """Stop if the question could not be written; write it again after feedback."""
    if is_rejected(state):
        return "__end__"
    return "reason_step" if state.get("question") else "write_question"


def route_after_check(state: CotState) -> Literal["reason_step", "state_answer", "__end__"]:
    """Another step, the answer, or the end of a rejected sample."""
    if is_rejected(state):
        return "__end__"
    return "state_answer" if state.get("ready") else "reason_step"


def route_after_verify(state: CotState) -> Literal["finish", "retry_reasoning", "__end__"]:
    """Accept an agreed answer, retry a disputed one once, else end rejected."""
    if is_rejected(state):
        return "__end__"
    check = state.get("check")
    if check is not None and check.get("verdict") == "disagree":
        return "retry_reasoning"
    return "finish"


def build_cot_graph() -> StateGraph[CotState, CotContext, CotInput, Any]:
    """The uncompiled graph; callers compile it with their own checkpointer."""
    builder = StateGraph(
        CotState, context_schema=CotContext, input_schema=CotInput, output_schema=CotOutput
    )
    builder.add_node("ground", ground)
    builder.add_node("write_question", write_question)
    builder.add_node("reason_step", reason_step)
    builder.add_node("check_step", check_step)
    builder.add_node("state_answer", state_answer)
    builder.add_node("verify", verify)
    builder.add_node("retry_reasoning", retry_reasoning)
    builder.add_node("finish", finish)
    builder.add_edge(START, "ground")
    builder.add_conditional_edges("ground", *end_if_rejected("write_question"))
    builder.add_conditional_edges("write_question", route_after_question)
    builder.add_conditional_edges("reason_step", *end_if_rejected("check_step"))
    builder.add_conditional_edges("check_step", route_after_check)
    builder.add_conditional_edges("state_answer", *end_if_rejected("verify"))
    builder.add_conditional_edges("verify", route_after_verify)
    builder.add_edge("retry_reasoning", "reason_step")
    builder.add_edge("finish", "__end__")
    return builder
