"""Runs over a concept tree against the scripted HTTP server: even leaves, even cells,
lost samples replaced on the same leaf and cell, the tree pinned in the run folder.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from synthloom.spec import parse_spec
from tests.integration.conftest import (
    OUTLINE_LEAVES,
    assert_counts_consistent,
    read_jsonl,
    run_dataset,
    spec_yaml,
    tree_spec,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

LEAVES = OUTLINE_LEAVES


def per_leaf(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["metadata"]["leaf"] for r in records)


async def test_samples_cover_every_leaf_and_cell_evenly(tmp_path: Path) -> None:
    with ScriptedOpenAIServer() as server:
        spec = tree_spec(server.base_url, tmp_path, samples=36)
        result = await run_dataset(spec)
    assert result.status == "completed"
    records = read_jsonl(spec.output / "samples.jsonl")
    counts = per_leaf(records)
    assert len(counts) == LEAVES
    assert max(counts.values()) - min(counts.values()) <= 1
    # Topics are the leaves' paths below the root.
    topics = {r["metadata"]["topic"] for r in records}
    assert "Sleep > Night shifts" in topics and "Movement > Back pain" in topics
    # The persona values (3, equal weights) come round evenly too.
    personas = Counter(r["metadata"]["conditions"]["persona"] for r in records)
    assert max(personas.values()) - min(personas.values()) <= 1
    saved = json.loads((spec.output / "concepts.json").read_text(encoding="utf-8"))
    assert sum(1 for n in saved["nodes"]) == 1 + 3 + LEAVES


async def test_lost_samples_are_replaced_on_their_leaf_so_counts_stay_even(
    tmp_path: Path,
) -> None:
    rng = random.Random(5)
    dropped: list[int] = []

    def reject_a_fifth(body: dict[str, Any]) -> str | None:
        # The user simulator's opening request (no turns yet): 1 in 5 gets broken JSON,
        # and with max_reasks 0 that sample is rejected.
        opening = isinstance(body.get("response_format"), dict) and len(body["messages"]) <= 2
        if opening and rng.random() < 0.2:
            dropped.append(1)
            return "this is not JSON"
        return None

    with ScriptedOpenAIServer(responder=reject_a_fifth) as server:
        spec = tree_spec(server.base_url, tmp_path, samples=80, replacements=4)
        result = await run_dataset(spec)
        calls = len(server.request_log)
        again = await run_dataset(spec)  # recomputes the same replacement plans: no work
        assert len(server.request_log) == calls
    assert again.new_samples == 0
    assert result.status == "completed"
    rejects = read_jsonl(spec.output / "rejects.jsonl")
    records = read_jsonl(spec.output / "samples.jsonl")
    assert len(rejects) == len(dropped) >= 8  # about a fifth of the attempts were lost
    assert all(r["plan"]["leaf"] is not None for r in rejects)
    # Every slot ends with one accepted sample: replacements kept the leaf and cell.
    slots = Counter(r["metadata"]["index"] for r in records)
    assert set(slots) == set(range(80)) and set(slots.values()) == {1}
    counts = per_leaf(records)
    mean = 80 / LEAVES
    assert all(abs(c - mean) <= 0.1 * mean for c in counts.values()), counts
    replaced = [r for r in records if r["metadata"].get("attempt")]
    assert replaced, "some samples should be replacements"
    assert_counts_consistent(spec.output, requested=80 + len(rejects))


async def test_without_replacements_a_lost_slot_stays_lost(tmp_path: Path) -> None:
    rng = random.Random(5)

    def reject_a_fifth(body: dict[str, Any]) -> str | None:
        opening = isinstance(body.get("response_format"), dict) and len(body["messages"]) <= 2
        return "this is not JSON" if opening and rng.random() < 0.2 else None

    with ScriptedOpenAIServer(responder=reject_a_fifth) as server:
        spec = tree_spec(server.base_url, tmp_path, samples=80, replacements=0)
        await run_dataset(spec)
    records = read_jsonl(spec.output / "samples.jsonl")
    rejects = read_jsonl(spec.output / "rejects.jsonl")
    assert len(records) + len(rejects) == 80 and rejects
    kept = {r["metadata"]["index"] for r in records}
    lost = {r["plan"]["index"] for r in rejects}
    assert not kept & lost and kept | lost == set(range(80))
    assert not any(r["metadata"].get("attempt") for r in records)
    assert_counts_consistent(spec.output, requested=80)


CHILDREN = {
    "Sleep": ["Sleep apnea", "Insomnia after night shifts", "Sleep in toddlers"],
    "Food": ["Reading food labels", "Healthy breakfast habits", "Eating less salt"],
    "Movement": ["Stretches for desk workers", "Walking for heart health", "Daily movement goals"],
}


def propose_children(body: dict[str, Any]) -> str | None:
    """Expander answers: three real subtopics of whichever seed the prompt is about."""
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    if schema.get("name") != "ChildProposals":
        return None
    prompt = json.dumps(body["messages"])
    parent = next(name for name in CHILDREN if name in prompt)
    return json.dumps({"children": [{"name": child} for child in CHILDREN[parent]]})


async def test_run_grows_the_tree_first_and_plans_over_its_new_leaves(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(responder=propose_children) as server:
        text = spec_yaml(server.base_url, tmp_path / "run", samples=18, concurrency=4)
        head, _, rest = text.partition("topics:\n")
        text = (
            f"{head}concepts:\n  seeds: [Sleep, Food, Movement]\n  root: Everyday health\n"
            "  expand: {max_depth: 2, children_per_node: 3, max_nodes: 40}\n"
            f"conditions:{rest.split('conditions:', 1)[1]}"
        )
        spec = parse_spec(text, source="grow-spec.yaml")
        result = await run_dataset(spec)
        calls = len(server.request_log)
        again = await run_dataset(spec)  # the pinned tree is reused: no expansion calls
        assert len(server.request_log) == calls and again.new_samples == 0
    assert result.status == "completed"
    saved = json.loads((spec.output / "concepts.json").read_text(encoding="utf-8"))
    generated = {n["name"] for n in saved["nodes"] if n["origin"] == "generated"}
    assert generated == {child for children in CHILDREN.values() for child in children}
    records = read_jsonl(spec.output / "samples.jsonl")
    counts = Counter(r["metadata"]["topic"] for r in records)
    assert len(counts) == 9 and set(counts.values()) == {2}
    assert "Sleep > Sleep apnea" in counts
