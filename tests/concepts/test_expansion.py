"""The expansion graph with scripted models: growth, screening, bad answers, budgets, resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs.expansion import ExpansionContext
from knowledge.concepts import ConceptTree, child_id
from knowledge.concepts.screen import normalize_name
from knowledge.concepts.spec import ExpandSpec
from synthloom.core.errors import ConceptTreeError
from synthloom.grow import expand_tree, expansion_context
from tests.concepts.scripted import (
    HashingEmbeddings,
    ScriptedChatModel,
    children_json,
    parent_path,
    prompt_of,
    taxonomy_answer,
    taxonomy_for,
)

SEEDS = ["Hypertension", "Type 2 diabetes", "Asthma"]


def seeds_tree() -> ConceptTree:
    return ConceptTree.from_seeds(SEEDS, root="Chronic disease care")


def context(model: ScriptedChatModel, **settings: Any) -> ExpansionContext:
    embeddings = settings.pop("embeddings", None)
    ground = settings.pop("ground", None)
    return expansion_context(
        settings.pop("tree", None) or seeds_tree(),
        model,
        ExpandSpec(**settings),
        embeddings=embeddings,
        ground=ground,
    )


def seed_id(name: str) -> str:
    return child_id("root", name)


def sibling_names_are_distinct(tree: ConceptTree) -> bool:
    for node in tree.nodes():
        names = [normalize_name(tree.name(c)) for c in tree.children(node)]
        if len(names) != len(set(names)):
            return False
    return True


async def test_three_seeds_grow_past_200_nodes_at_depth_3(tmp_path: Path) -> None:
    model = ScriptedChatModel(taxonomy_answer)
    ctx = context(model, max_depth=3, children_per_node=8, max_nodes=5000, batch_size=10)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "ckpt.sqlite")) as saver:
        result = await expand_tree(ctx, checkpointer=saver)
    tree = result.tree
    assert len(tree) >= 200 and tree.height == 3
    assert tree.stats().by_depth == {0: 1, 1: 3, 2: 24, 3: 192}
    assert sibling_names_are_distinct(tree)
    assert all(tree.depth(leaf) == 3 for leaf in tree.leaves())
    assert tree.stats().by_origin == {"generated": 216, "seed": 4}
    summary = tree.graph.graph["expansion"]
    assert summary["stop_reason"] == "complete" and summary["calls"] == model.calls == 27
    assert summary["batches"] == 4  # the 3 seeds, then 24 nodes in batches of 10
    # Breadth-first: every seed was expanded before any depth-2 node.
    first_deep = next(i for i, p in enumerate(model.prompts) if len(parent_path(p)) == 3)
    assert first_deep == 3


async def test_near_duplicate_proposals_are_rejected_and_recorded() -> None:
    offered = [
        "Diabetic retinopathy",
        "diabetic retinopathies",
        "The Diabetic Retinopathy",
        "Retinopathy, diabetic",
        "Insulin therapy",
        "Insulin-therapy",
        "Type II diabetes",
        "Other topics",
        "Foot care",
    ]

    def answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        path = parent_path(messages)
        if path[-1] == "Type 2 diabetes":
            return children_json(offered, "type 2 diabetes")
        return taxonomy_answer(messages, kwargs)

    result = await expand_tree(context(ScriptedChatModel(answer), max_depth=2))
    tree = result.tree
    kept = [tree.name(c) for c in tree.children(seed_id("Type 2 diabetes"))]
    assert kept == ["Diabetic retinopathy", "Insulin therapy", "Foot care"]
    rejected = {r["name"]: (r["kind"], r["reason"]) for r in result.rejections}
    assert rejected["diabetic retinopathies"] == (
        "duplicate",
        "duplicate of sibling 'Diabetic retinopathy'",
    )
    assert rejected["Retinopathy, diabetic"][0] == "near_duplicate"
    assert rejected["Insulin-therapy"][0] == "duplicate"
    assert rejected["Type II diabetes"] == ("duplicate", "duplicate of ancestor 'Type 2 diabetes'")
    assert rejected["Other topics"][0] == "generic"
    assert tree.graph.graph["expansion"]["rejected"] == {
        "duplicate": 4,
        "generic": 1,
        "near_duplicate": 1,
    }
    assert sibling_names_are_distinct(tree)


async def test_embeddings_from_the_context_reject_misspelled_siblings() -> None:
    def answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        names = ["Diabetic retinopathy", "Diabetic retinopaty", "Diabetic neuropathy"]
        return children_json(names, parent_path(messages)[-1])

    embedder = HashingEmbeddings()
    ctx = context(
        ScriptedChatModel(answer),
        max_depth=2,
        similarity_threshold=0.85,
        min_relevance=0.0,
        embeddings=embedder,
    )
    result = await expand_tree(ctx)
    kids = [result.tree.name(c) for c in result.tree.children(seed_id("Asthma"))]
    assert kids == ["Diabetic retinopathy", "Diabetic neuropathy"]
    assert {r["kind"] for r in result.rejections} == {"near_duplicate"}
    assert embedder.calls == 1  # one batch (the three seeds), one embedding request


async def test_malformed_json_is_reasked_with_the_error() -> None:
    seen: Counter[str] = Counter()

    def answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        node = parent_path(messages)[-1]
        seen[node] += 1
        if node == "Asthma" and seen[node] == 1:
            return '{"children": [{"name": "Inhaler technique"'  # cut off
        return taxonomy_answer(messages[:1], kwargs)

    model = ScriptedChatModel(answer)
    result = await expand_tree(context(model, max_depth=2))
    assert len(result.tree.children(seed_id("Asthma"))) == 8
    assert result.failures == []
    reask = next(p for p in model.prompts if len(p) == 3)
    assert "not valid JSON for the schema (answer: Invalid JSON" in str(reask[2].content)
    assert result.tree.graph.graph["expansion"]["calls"] == 4


async def test_no_children_or_garbage_fails_that_node_only() -> None:
    def answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        node = parent_path(messages)[-1]
        if node == "Asthma":
            return json.dumps({"children": []})
        if node == "Hypertension":
            return "Sure! Here are some subtopics: ..."
        return taxonomy_answer(messages[:1], kwargs)

    model = ScriptedChatModel(answer)
    result = await expand_tree(context(model, max_depth=2, max_reasks=1))
    tree = result.tree
    failures = {f["node"]: f for f in result.failures}
    assert set(failures) == {seed_id("Asthma"), seed_id("Hypertension")}
    asthma = failures[seed_id("Asthma")]
    assert asthma["calls"] == 2
    assert asthma["reason"] == (
        "expander gave malformed JSON 2 times: children: List should have at least 1 item "
        "after validation, not 0"
    )
    assert tree.graph.nodes[seed_id("Asthma")]["status"] == "failed"
    assert "failure" in tree.graph.nodes[seed_id("Hypertension")]
    assert len(tree.children(seed_id("Type 2 diabetes"))) == 8
    assert tree.graph.graph["expansion"]["failed"] == 2


async def test_a_refused_request_fails_the_node_and_endpoint_trouble_stops() -> None:
    request = httpx2.Request("POST", "http://model.test/v1/chat/completions")

    def refuse(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if parent_path(messages)[-1] == "Asthma":
            response = httpx2.Response(400, request=request)
            raise openai.BadRequestError("context too long", response=response, body=None)
        return taxonomy_answer(messages, kwargs)

    result = await expand_tree(context(ScriptedChatModel(refuse), max_depth=2))
    (failure,) = result.failures
    assert failure["node"] == seed_id("Asthma") and failure["reason"].startswith("HTTP 400")

    def down(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        raise openai.APIConnectionError(request=request)

    with pytest.raises(openai.APIConnectionError):
        await expand_tree(context(ScriptedChatModel(down), max_depth=2))


async def test_node_and_call_budgets_stop_the_growth() -> None:
    by_nodes = await expand_tree(context(ScriptedChatModel(taxonomy_answer), max_nodes=50))
    assert len(by_nodes.tree) == 50
    assert by_nodes.tree.graph.graph["expansion"]["stop_reason"] == "max_nodes"
    rejected = Counter(r["reason"] for r in by_nodes.rejections)
    assert rejected == {"over max_nodes": 8 * by_nodes.output["calls"] - 46}

    model = ScriptedChatModel(taxonomy_answer)
    by_calls = await expand_tree(context(model, max_calls=5, max_reasks=0))
    assert model.calls == 5
    assert by_calls.tree.graph.graph["expansion"]["stop_reason"] == "max_calls"
    assert len(by_calls.tree) == 4 + 5 * 8

    few = await expand_tree(context(ScriptedChatModel(taxonomy_answer), children_per_node=3))
    assert {len(few.tree.children(n)) for n in few.tree.nodes() if few.tree.depth(n) < 3} == {3}


async def test_grounding_snippets_reach_the_prompt() -> None:
    asked: list[str] = []

    async def ground(path: str) -> list[str]:
        asked.append(path)
        return [f"Guideline excerpt about {path.split(' > ')[-1]}."]

    model = ScriptedChatModel(taxonomy_answer)
    await expand_tree(context(model, max_depth=2, ground=ground))
    assert asked == [f"Chronic disease care > {s}" for s in SEEDS]
    prompt = next(prompt_of(p) for p in model.prompts if parent_path(p)[-1] == "Asthma")
    assert "[1] Guideline excerpt about Asthma." in prompt
    assert prompt.index("Guideline excerpt") < prompt.index("Parent topic:")


async def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    settings = {"max_depth": 3, "children_per_node": 5, "batch_size": 4}
    whole = await expand_tree(context(ScriptedChatModel(taxonomy_answer), **settings))

    calls = Counter[str]()

    def flaky(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 12:  # in the middle of the third batch
            raise openai.APIConnectionError(request=httpx2.Request("POST", "http://m.test"))
        return taxonomy_answer(messages, kwargs)

    db = str(tmp_path / "ckpt.sqlite")
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        with pytest.raises(openai.APIConnectionError):
            await expand_tree(context(ScriptedChatModel(flaky), **settings), checkpointer=saver)
    healthy = ScriptedChatModel(taxonomy_answer)
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        resumed = await expand_tree(context(healthy, **settings), checkpointer=saver)
    assert resumed.resumed
    assert healthy.calls < whole.output["calls"]  # finished batches were not asked again
    assert resumed.tree.to_node_link() == whole.tree.to_node_link()

    # Asking again for a finished expansion returns it without a call.
    idle = ScriptedChatModel(taxonomy_answer)
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        again = await expand_tree(context(idle, **settings), checkpointer=saver)
    assert idle.calls == 0 and again.tree.to_node_link() == whole.tree.to_node_link()


async def test_a_checkpoint_of_another_tree_is_refused(tmp_path: Path) -> None:
    def down(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        raise openai.APIConnectionError(request=httpx2.Request("POST", "http://m.test"))

    other_tree = ConceptTree.from_seeds(["Migraine"])
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
        with pytest.raises(openai.APIConnectionError):
            await expand_tree(context(ScriptedChatModel(down)), checkpointer=saver, thread_id="t")
        other = context(ScriptedChatModel(taxonomy_answer), tree=other_tree)
        with pytest.raises(ConceptTreeError, match="grew another tree"):
            await expand_tree(other, checkpointer=saver, thread_id="t")


async def test_a_name_already_in_another_branch_of_the_topic_is_rejected() -> None:
    def answer(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        path = parent_path(messages)
        if len(path) == 3 and path[1] in ("Type 2 diabetes", "Hypertension"):
            # Every sub-branch offers the same specific name and a one-word one.
            own = taxonomy_for(prompt_of(messages))
            children = json.loads(own)["children"][:1]
            children += [{"name": "Insulin pump therapy", "description": f"pumps in {path[-1]}"}]
            children += [{"name": "Diagnosis", "description": f"how {path[-1]} is found"}]
            return json.dumps({"children": children})
        return taxonomy_answer(messages, kwargs)

    result = await expand_tree(
        context(ScriptedChatModel(answer), max_depth=3, children_per_node=3, batch_size=1)
    )
    tree = result.tree
    for seed in ("Type 2 diabetes", "Hypertension"):
        names = [
            tree.name(n) for n in tree.nodes() if tree.depth(n) == 3 and tree.path(n)[1] == seed
        ]
        # Kept once per top-level topic (two topics: two concepts), one-word names each time.
        assert names.count("Insulin pump therapy") == 1
        assert names.count("Diagnosis") == len(tree.children(seed_id(seed)))
    reasons = [r["reason"] for r in result.rejections if r["name"] == "Insulin pump therapy"]
    assert reasons and all(
        r == "duplicate of 'Insulin pump therapy' in another branch" for r in reasons
    )
