"""The graphs of `langgraph.json`, for `langgraph dev` and LangGraph Studio.

This module is an entry point of the application, not a graph of its own: each
factory reads a run spec and builds the roles, knowledge base and plan the way a run
does, which is why it — and only it under `graphs/` — imports the application
layer (`synthloom.spec`, `synthloom.tasks`). The graph modules stay free of it.

Each factory returns a small wrapper around the real graph:

    START → plan → play (the dialogue, cot or expansion graph, its steps streamed) → END

`plan` fills in what the input leaves out — the spec's plan N (`index`, default the
first) for dialogue and cot, the tree's fingerprint for expansion — so pressing
Submit on an empty input plays a sample. The spec is `spec` (a path) in the run's
context or configurable, else `$SYNTHLOOM_STUDIO_SPEC`, else the example's. The
context Studio edits is JSON (`StudioContext`); the run-scoped roles never leave the
process.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from graphs.cot import CotOutput, build_cot_graph
from graphs.dialogue import DialogueOutput, build_dialogue_graph
from graphs.expansion import ExpansionContext, ExpansionOutput, build_expansion_graph
from synthloom.grow import expansion_context

Kind = Literal["dialogue", "cot", "expansion"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_SPECS: dict[Kind, Path] = {
    "dialogue": EXAMPLES / "clinic-dialogue" / "spec.yaml",
    "cot": EXAMPLES / "clinic-cot" / "spec.yaml",
    "expansion": EXAMPLES / "clinic-dialogue" / "spec.yaml",
}
SPEC_ENV = "SYNTHLOOM_STUDIO_SPEC"
INNER_RECURSION_LIMIT = 200
_OUTPUTS: dict[Kind, Any] = {
    "dialogue": DialogueOutput,
    "cot": CotOutput,
    "expansion": ExpansionOutput,
}


class StudioContext(TypedDict, total=False):
    """What a Studio user may set per run (JSON): the spec, and which of its plans to play.

    The server mirrors it into `configurable` (and `configurable` into it), so either works.
    """

    spec: str
    index: int


class SampleInput(TypedDict, total=False):
    """A dialogue or cot run's input: a plan (`Plan.model_dump()`), or nothing."""

    plan: dict[str, Any]


class ExpansionStudioInput(TypedDict, total=False):
    """An expansion's input: the tree's fingerprint, or nothing."""

    base: str


def spec_path(kind: Kind, config: RunnableConfig | None) -> Path:
    """The spec a run plays: `configurable.spec`, `$SYNTHLOOM_STUDIO_SPEC`, or the example's."""
    configurable = (config or {}).get("configurable") or {}
    given = configurable.get("spec") or os.environ.get(SPEC_ENV)
    return Path(str(given)) if given else DEFAULT_SPECS[kind]


def _index(runtime: Runtime[Any]) -> int:
    context = runtime.context if isinstance(runtime.context, dict) else {}
    return int(context.get("index") or 0)


def build_studio_graph(
    kind: Kind,
    spec: Any,
    inner_context: Callable[[], Any] | None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph `plan → play` around the real one; `inner_context` gives its context.

    Without `inner_context` (Studio drawing the graph or reading its schemas) the
    graph is the same but playing it says it was not built for execution.
    """
    from synthloom.planning import Planner
    from synthloom.run_tree import load_run_tree

    builders: dict[Kind, Callable[[], StateGraph[Any, Any, Any, Any]]] = {
        "dialogue": build_dialogue_graph,
        "cot": build_cot_graph,
        "expansion": build_expansion_graph,
    }
    inner = cast("Pregel[Any, Any, Any, Any]", builders[kind]().compile(name=kind))

    def context() -> Any:
        if inner_context is None:
            raise RuntimeError(f"the {kind} graph was built to be read, not run")
        return inner_context()

    def plan(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        """Fill in the spec's plan N (or the tree to grow) when the input leaves it out."""
        if kind == "expansion":
            return {} if state.get("base") else {"base": cast("ExpansionContext", context()).base}
        if state.get("plan"):
            return {}
        planner = Planner(spec, load_run_tree(spec))
        return {"plan": planner.plan(_index(runtime)).model_dump()}

    async def play(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """Run the real graph on the plan with the roles built from the spec."""
        payload = {"base": state["base"]} if kind == "expansion" else {"plan": state["plan"]}
        # Regenerations and long dialogues take more steps than the server's default 25.
        limit = max(int(config.get("recursion_limit") or 0), INNER_RECURSION_LIMIT)
        final = await inner.ainvoke(
            payload, {**config, "recursion_limit": limit}, context=context()
        )
        return dict(final)

    output = _OUTPUTS[kind]
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        output,
        context_schema=StudioContext,
        input_schema=ExpansionStudioInput if kind == "expansion" else SampleInput,
        output_schema=output,
    )
    # The wrapper's state is the inner graph's output, chosen per kind: typed as Any.
    builder.add_node("plan", cast(Any, plan))
    builder.add_node("play", cast(Any, play))
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "play")
    builder.add_edge("play", END)
    return builder.compile(name=kind)


@asynccontextmanager
async def studio_graph(kind: Kind, config: RunnableConfig) -> AsyncIterator[Any]:
    """The wrapper graph for one server request; for a run, its roles live inside the block."""
    from agents.endpoints import open_models
    from synthloom.spec import load_spec
    from synthloom.tasks import make_task, roles_for

    path = spec_path(kind, config)
    spec = load_spec(path)
    if kind != "expansion" and spec.task != kind:
        raise ValueError(f"{path}: the {kind} graph needs a `task: {kind}` spec, not {spec.task}")
    if kind == "expansion" and spec.concepts is None:
        raise ValueError(f"{path}: the expansion graph needs a spec with a `concepts:` block")
    if not (config.get("configurable") or {}).get("__is_for_execution__"):
        yield build_studio_graph(kind, spec, None)
        return
    async with AsyncExitStack() as stack:
        roles = ("assistant",) if kind == "expansion" else roles_for(spec)
        log_dir = Path(tempfile.gettempdir())
        models = stack.enter_context(open_models(spec, roles, log_dir=log_dir))
        if kind == "expansion":
            from knowledge.concepts.spec import ExpandSpec

            assert spec.concepts is not None  # checked above
            ctx = expansion_context(
                spec.concepts.base_tree(),
                models["assistant"],
                spec.concepts.expand or ExpandSpec(),
            )
            yield build_studio_graph(kind, spec, lambda: ctx)
            return
        task = make_task(spec, models)
        await stack.enter_async_context(task.grounded(None, progress=False))
        yield build_studio_graph(kind, spec, lambda: task.context)


@asynccontextmanager
async def dialogue(config: RunnableConfig) -> AsyncIterator[Any]:
    """`langgraph.json` → dialogue: the user simulator and assistant role-play plan N."""
    async with studio_graph("dialogue", config) as graph:
        yield graph


@asynccontextmanager
async def cot(config: RunnableConfig) -> AsyncIterator[Any]:
    """`langgraph.json` → cot: question, steps, answer and check for plan N."""
    async with studio_graph("cot", config) as graph:
        yield graph


@asynccontextmanager
async def expansion(config: RunnableConfig) -> AsyncIterator[Any]:
    """`langgraph.json` → expansion: grow the spec's concept tree with the model."""
    async with studio_graph("expansion", config) as graph:
        yield graph
