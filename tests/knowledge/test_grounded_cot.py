"""Grounded chain-of-thought: snippets reach the writer, reasoner and answerer; ids the record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from agents.reasoning import build_cot_roles
from graphs.cot import CotContext, build_cot_graph
from knowledge.grounding import KnowledgeBase
from synthloom.core.records import Plan
from synthloom.spec import parse_spec
from synthloom.tasks import CotTask
from tests.knowledge.conftest import spec_for
from tests.unit.fakes import RecordingFakeChatModel

TOPIC = "Understanding high blood pressure readings"
PLAN = Plan(id="c-bp", index=0, topic=TOPIC, conditions={"difficulty": "hard"}, rounds=1)
QUESTION = "A home reading averages 142/91 over a week. Is that above the home threshold?"


def _json(**fields: Any) -> str:
    return json.dumps(fields)


async def test_snippets_and_demos_reach_the_cot_roles_and_ids_the_record(example_kb: Path) -> None:
    writer = RecordingFakeChatModel([_json(question=QUESTION)])
    reasoner = RecordingFakeChatModel(
        [
            _json(step="The home threshold is lower than the clinic one.", ready_to_answer=False),
            _json(step="142/91 is above 135/85, so it is raised.", ready_to_answer=True),
            _json(answer="Yes: a home average of 142/91 is above 135/85."),
        ]
    )
    roles = build_cot_roles(
        writer, reasoner, reasoner, system_prompt="Think step by step.", min_steps=1, max_reasks=0
    )
    context = CotContext(writer=roles[0], reasoner=roles[1], verifier=None)
    with KnowledgeBase(spec_for(example_kb, top_k=2, demos_k=1)) as base:
        grounded = dataclasses.replace(context, knowledge=base)
        graph = build_cot_graph().compile()
        out: dict[str, Any] = await graph.ainvoke({"plan": PLAN.model_dump()}, context=grounded)
        stored = base.retriever.get(out["grounding"]["sources"])
    assert out["outcome"] == "completed"
    assert len(stored) == 2 and [c.id for c in stored] == out["grounding"]["sources"]
    demo = out["grounding"]["demos"][0]["messages"]
    question_prompt = str(writer.prompts[0][0].content)
    step_prompt = str(reasoner.prompts[0][0].content)
    answer_prompt = str(reasoner.prompts[-1][0].content)
    # The question is built on the snippets, the steps and answer keep to them.
    for prompt in (question_prompt, step_prompt, answer_prompt):
        assert all(chunk.text in prompt for chunk in stored)
    # Demos: their question shows the writer the format, their answer the answerer the depth.
    assert demo[0]["content"] in question_prompt
    assert demo[-1]["content"] in answer_prompt and demo[-1]["content"] not in step_prompt

    spec = parse_spec(f"task: cot\nsamples: 1\ntopics: [{TOPIC}]\n", source="cot.yaml")
    record = CotTask(spec, {"user_simulator": writer, "assistant": reasoner}).record(PLAN, out)
    meta = record.model_dump(mode="json")["metadata"]
    assert [s["id"] for s in meta["sources"]] == out["grounding"]["sources"]
    assert [s["text"] for s in meta["sources"]] == [c.text for c in stored]
    assert [d["id"] for d in meta["demos"]] == [out["grounding"]["demos"][0]["id"]]
    assert all(chunk.text not in json.dumps(record.messages) for chunk in stored)


async def test_without_a_knowledge_base_nothing_is_grounded() -> None:
    writer = RecordingFakeChatModel([_json(question=QUESTION)])
    reasoner = RecordingFakeChatModel(
        [_json(step="142/91 is above 135/85.", ready_to_answer=True), _json(answer="Yes.")]
    )
    roles = build_cot_roles(
        writer, reasoner, reasoner, system_prompt="Think step by step.", min_steps=1, max_reasks=0
    )
    context = CotContext(writer=roles[0], reasoner=roles[1], verifier=None)
    out = await build_cot_graph().compile().ainvoke({"plan": PLAN.model_dump()}, context=context)
    assert out["outcome"] == "completed" and "grounding" not in out
    assert "Reference information" not in str(writer.prompts[0][0].content)
    spec = parse_spec(f"task: cot\nsamples: 1\ntopics: [{TOPIC}]\n", source="cot.yaml")
    record = CotTask(spec, {"user_simulator": writer, "assistant": reasoner}).record(PLAN, out)
    assert record.metadata.sources == []
    assert "sources" not in record.model_dump(mode="json")["metadata"]  # not written at all
