"""Grounded dialogues end to end: retrieved text reaches the prompts, ids reach the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphs.dialogue import DialogueContext, build_dialogue_graph
from knowledge.grounding import KnowledgeBase
from synthloom.core.records import Plan
from synthloom.spec import parse_spec
from tests.knowledge.conftest import EXAMPLE_DEMOS, EXAMPLE_KNOWLEDGE, spec_for

TOPIC = "When a fever in a child needs a doctor"
PLAN = Plan(id="p-fever", index=0, topic=TOPIC, conditions={"persona": "a parent"}, rounds=1)


async def test_retrieved_text_and_demos_reach_the_prompts(example_kb: Path) -> None:
    from tests.unit.fakes import make_context, user_json

    extraction = json.dumps({"warning_sign": [{"value": "a stiff neck", "source": "S1"}]})
    context, user_model, assistant_model = make_context(
        [user_json("My son is 3 and has had 39C since yesterday. When should I worry?")],
        [extraction, "Watch for a stiff neck, a rash that does not fade, or breathing trouble."],
    )
    spec = spec_for(example_kb, top_k=3, demos_k=2, conditions={"warning_sign": "a red flag"})
    with KnowledgeBase(spec, model=context.assistant.model) as base:
        context = DialogueContext(user=context.user, assistant=context.assistant, knowledge=base)
        graph = build_dialogue_graph().compile()
        out: dict[str, Any] = await graph.ainvoke({"plan": PLAN.model_dump()}, context=context)
        stored = base.retriever.get(out["grounding"]["sources"])
    assert out["outcome"] == "completed"
    grounding = out["grounding"]
    assert grounding["knowledge_conditions"] == {"warning_sign": "a stiff neck"}
    assert out["plan"]["conditions"] == {"persona": "a parent", "warning_sign": "a stiff neck"}
    # Every source id is a real chunk, and its text is in the assistant's system prompt.
    assert [c.id for c in stored] == grounding["sources"] and len(stored) == 3
    system = str(assistant_model.prompts[1][0].content)
    assert all(chunk.text in system for chunk in stored)
    assert all(d["messages"][-1]["content"] in system for d in grounding["demos"])
    assert "warning sign: a stiff neck" in system
    # The simulated person sees the drawn condition and the demos' way of writing.
    person = str(user_model.prompts[0][0].content)
    assert "warning sign: a stiff neck" in person
    assert grounding["demos"][0]["messages"][0]["content"] in person


TOPIC_SOURCES = {
    "Managing type 2 diabetes after diagnosis": {"type-2-diabetes.md", "faq-diabetes.csv"},
    "Understanding high blood pressure readings": {
        "high-blood-pressure.txt",
        "home-blood-pressure-monitoring.pdf",
        "faq-fever-and-blood-pressure.jsonl",
    },
    "When a fever in a child needs a doctor": {
        "fever-in-children.html",
        "faq-fever-and-blood-pressure.jsonl",
    },
}
SPEC = """\
task: dialogue
samples: 4
seed: 3
output: {output}
concurrency: 2
topics:
  - Managing type 2 diabetes after diagnosis
  - Understanding high blood pressure readings
  - When a fever in a child needs a doctor
conditions:
  persona: [a worried adult, a parent asking about their child]
dialogue:
  rounds: {{min: 1, max: 2}}
models:
  default:
    provider: openai
    base_url: {base_url}
    model: scripted-model
    max_tokens: 200
    timeout: 5
knowledge:
  path: {kb}
  sources: [{sources}]
  demos: [{demos}]
  top_k: 3
  demos_k: 2
"""


@pytest.mark.integration
async def test_run_records_carry_sources_that_round_trip(example_kb: Path, tmp_path: Path) -> None:
    from tests.integration.conftest import read_jsonl, run_dataset
    from tests.support.openai_server import ScriptedOpenAIServer

    def spec_text(output: Path, base_url: str) -> str:
        return SPEC.format(
            output=json.dumps(str(output)),
            base_url=json.dumps(base_url),
            kb=json.dumps(str(example_kb)),
            sources=json.dumps(str(EXAMPLE_KNOWLEDGE)),
            demos=json.dumps(str(EXAMPLE_DEMOS)),
        )

    output, again = tmp_path / "run", tmp_path / "again"
    with ScriptedOpenAIServer() as server:
        result = await run_dataset(parse_spec(spec_text(output, server.base_url), "grounded.yaml"))
        bodies = [json.dumps(b["messages"]) for b in server.request_log]
        # The same plans in a second run folder: grounded exactly the same way.
        repeat = await run_dataset(parse_spec(spec_text(again, server.base_url), "grounded.yaml"))
    assert result.status == "completed" and result.counts.accepted == 4
    assert repeat.status == "completed"
    records = read_jsonl(output / "samples.jsonl")

    def grounding_of(rows: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[str]]]:
        metas = [r["metadata"] for r in rows]
        return {
            m["id"]: ([s["id"] for s in m["sources"]], [d["id"] for d in m["demos"]]) for m in metas
        }

    assert grounding_of(records) == grounding_of(read_jsonl(again / "samples.jsonl"))
    with KnowledgeBase(spec_for(example_kb)) as base:
        for record in records:
            meta = record["metadata"]
            ids = [s["id"] for s in meta["sources"]]
            chunks = base.retriever.get(ids)
            assert ids and [c.id for c in chunks] == ids
            # Each source carries the stored text, so curation needs no knowledge base.
            assert [s["text"] for s in meta["sources"]] == [c.text for c in chunks]
            assert len(meta["demos"]) == 2 and all(d["id"] and d["messages"] for d in meta["demos"])
            # The chunks were in the assistant's prompt on the wire...
            assert any(all(json.dumps(c.text)[1:-1] in b for c in chunks) for b in bodies)
            # ...and the most relevant one is about the sample's topic.
            assert Path(chunks[0].source).name in TOPIC_SOURCES[meta["topic"]]
            # The training record itself holds no reference snippets or demos.
            assert "Reference information" not in record["messages"][0]["content"]


async def test_a_condition_no_passage_backs_is_marked_on_the_sample(example_kb: Path) -> None:
    from tests.unit.fakes import make_context, user_json

    uncited = json.dumps({"warning_sign": [{"value": "a stiff neck", "source": "S99"}]})
    context, _, _ = make_context(
        [user_json("My son is 3 and has had 39C since yesterday. When should I worry?")],
        [uncited, "Watch for a stiff neck, a rash that does not fade, or breathing trouble."],
    )
    spec = spec_for(example_kb, top_k=3, demos_k=2, conditions={"warning_sign": "a red flag"})
    with KnowledgeBase(spec, model=context.assistant.model) as base:
        context = DialogueContext(user=context.user, assistant=context.assistant, knowledge=base)
        out: dict[str, Any] = (
            await build_dialogue_graph()
            .compile()
            .ainvoke({"plan": PLAN.model_dump()}, context=context)
        )
        assert base.missing_conditions() == {TOPIC: ("warning_sign",)}
    assert out["outcome"] == "completed"
    assert out["grounding"]["missing_conditions"] == ["warning_sign"]
    assert "warning_sign" not in out["plan"]["conditions"]
    assert not (Path(spec.path) / "conditions.json").exists()
