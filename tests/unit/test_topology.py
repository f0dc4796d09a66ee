"""Exact topology of the three graphs: an edge added, dropped or rewired fails here.

Conditional edges are drawn from each router's declared destinations, so a
router that could reach a node it should not (or miss END) shows up as well.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import StateGraph

from graphs.cot import build_cot_graph
from graphs.dialogue import build_dialogue_graph
from graphs.expansion import build_expansion_graph

S, E = "__start__", "__end__"
DIALOGUE = {
    (S, "ground", False),
    ("ground", "simulate_user", True),
    ("ground", E, True),
    *(("simulate_user", to, True) for to in ("simulate_user", "respond", "finish", E)),
    *(("respond", to, True) for to in ("simulate_user", "respond", "finish", E)),
    ("finish", E, False),
}
COT = {
    (S, "ground", False),
    ("ground", "write_question", True),
    ("ground", E, True),
    *(("write_question", to, True) for to in ("write_question", "reason_step", E)),
    ("reason_step", "check_step", True),
    ("reason_step", E, True),
    *(("check_step", to, True) for to in ("reason_step", "state_answer", E)),
    ("state_answer", "verify", True),
    ("state_answer", E, True),
    *(("verify", to, True) for to in ("finish", "retry_reasoning", E)),
    ("retry_reasoning", "reason_step", False),
    ("finish", E, False),
}
EXPANSION = {
    (S, "select_frontier", False),
    ("select_frontier", "propose_children", True),
    ("select_frontier", E, True),
    ("propose_children", "add_children", False),
    ("add_children", "select_frontier", False),
}


def edges(builder: StateGraph[Any, Any, Any, Any]) -> set[tuple[str, str, bool]]:
    return {(e.source, e.target, e.conditional) for e in builder.compile().get_graph().edges}


@pytest.mark.parametrize(
    ("build", "expected"),
    [(build_dialogue_graph, DIALOGUE), (build_cot_graph, COT), (build_expansion_graph, EXPANSION)],
    ids=["dialogue", "cot", "expansion"],
)
def test_the_graph_has_exactly_these_edges(build: Any, expected: set[Any]) -> None:
    assert edges(build()) == expected


def test_every_node_but_the_last_can_end_a_rejected_sample() -> None:
    # A node that can reject must route to END, or a rejected sample runs on.
    for build, last in ((build_dialogue_graph, "finish"), (build_cot_graph, "finish")):
        found = edges(build())
        nodes = {source for source, _, _ in found} - {S, last, "retry_reasoning"}
        assert all((node, E, True) in found for node in nodes), build.__name__
