"""A role spread over replica servers: every call of one sample goes to one server."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from agents.pool import EndpointPool


def server(name: str) -> GenericFakeChatModel:
    """A fake server that signs every answer with its name."""
    return GenericFakeChatModel(messages=(AIMessage(name) for _ in itertools.count()))


class State(TypedDict):
    answers: list[str]


def three_calls_graph(pool: EndpointPool) -> Any:
    async def talk(state: State) -> dict[str, Any]:
        answers = [str((await pool.ainvoke(f"turn {i}")).content) for i in range(3)]
        return {"answers": answers}

    graph = StateGraph(State)
    graph.add_node("talk", talk)
    graph.add_edge(START, "talk")
    graph.add_edge("talk", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_each_sample_sticks_to_one_server_and_samples_spread_over_all() -> None:
    pool = EndpointPool(models=[server("a"), server("b"), server("c")], model_name="m")
    graph = three_calls_graph(pool)

    async def run_all() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = defaultdict(list)
        for n in range(30):
            thread = f"sample-{n}"
            final = await graph.ainvoke({"answers": []}, {"configurable": {"thread_id": thread}})
            seen[thread] = final["answers"]
        return seen

    seen = asyncio.run(run_all())
    assert all(len(set(answers)) == 1 for answers in seen.values())  # one server per sample
    per_server = {answers[0] for answers in seen.values()}
    assert per_server == {"a", "b", "c"}
    # The choice depends on the sample's id only: a resumed sample returns to its server.
    again = asyncio.run(graph.ainvoke({"answers": []}, {"configurable": {"thread_id": "sample-7"}}))
    assert again["answers"][0] == seen["sample-7"][0]


def test_calls_outside_a_graph_take_the_servers_in_turn() -> None:
    pool = EndpointPool(models=[server("a"), server("b")], model_name="m")
    assert [pool.invoke("hi").content for _ in range(4)] == ["a", "b", "a", "b"]
