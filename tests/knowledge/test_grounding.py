"""`KnowledgeBase.ground`: what one sample is generated with, and `prepare_knowledge`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from knowledge.grounding import KnowledgeBase, prepare_knowledge
from knowledge.spec import KnowledgeSpec
from synthloom.core.errors import KnowledgeError
from tests.knowledge.conftest import EXAMPLE_DEMOS, EXAMPLE_KNOWLEDGE, spec_for
from tests.unit.fakes import RecordingFakeChatModel

TOPIC = "When a fever in a child needs a doctor"


async def test_a_sample_gets_relevant_snippets_demos_and_their_ids(example_kb: Path) -> None:
    with KnowledgeBase(spec_for(example_kb, top_k=3, demos_k=2)) as base:
        grounding = await base.ground(TOPIC, {"persona": "a parent"}, seed="plan-1")
        again = await base.ground(TOPIC, {"persona": "a parent"}, seed="plan-1")
        stored = base.retriever.get(grounding.sources)
    assert len(grounding.snippets) == 3
    assert all(c.source.endswith(("fever-in-children.html", ".jsonl")) for c in grounding.snippets)
    assert grounding.sources == [c.id for c in grounding.snippets]
    assert [c.text for c in stored] == [c.text for c in grounding.snippets]
    assert len({d.id for d in grounding.demos}) == 2 and grounding.demos[0].topic == TOPIC
    assert again == grounding  # deterministic: a resumed sample is grounded the same way
    state = grounding.as_state()
    assert json.loads(json.dumps(state)) == state  # JSON-native for checkpoints


class FaithfulExtractor(RecordingFakeChatModel):
    """Answers like a faithful model: quotes a value from the passage that states it."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.prompts.append(list(messages))
        label = ""
        passages: dict[str, str] = {}
        for line in str(messages[0].content).splitlines():
            if re.fullmatch(r"\[S\d+\]", line):
                label = line.strip("[]")
            elif label:
                passages[label] = passages.get(label, "") + line
        source = next(lab for lab, text in passages.items() if "does not fade" in text)
        reply = {"warning_sign": [{"value": "a rash that does not fade", "source": source}]}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(json.dumps(reply)))])


async def test_knowledge_drawn_conditions_bring_their_passage(example_kb: Path) -> None:
    spec = spec_for(example_kb, top_k=2, conditions={"warning_sign": "a sign that needs help"})
    # The pydantic mypy plugin gives the subclass a field-based __init__, hiding
    # RecordingFakeChatModel.__init__(replies), which is what runs.
    model = FaithfulExtractor([])  # type: ignore[call-arg]
    with KnowledgeBase(spec, model=model) as base:
        grounding = await base.ground(TOPIC, {}, seed="plan-3")
        again = await base.ground(TOPIC, {}, seed="plan-4")
    assert grounding.conditions == {"warning_sign": "a rash that does not fade"}
    # The passage the value came from is first among the snippets the assistant sees.
    assert "does not fade" in grounding.snippets[0].text
    assert grounding.sources[0] == grounding.snippets[0].id
    assert len(grounding.snippets) == 2
    # Extracted once per concept: the second sample read the cache.
    assert len(model.prompts) == 1 and again.conditions == grounding.conditions
    assert (example_kb / "conditions.json").exists()


def test_conditions_need_a_model(example_kb: Path) -> None:
    with pytest.raises(ValueError, match="needs a chat model"):
        KnowledgeBase(spec_for(example_kb, conditions=["symptom"]))


def test_a_missing_base_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no knowledge base at .*synthloom ingest"):
        KnowledgeBase(spec_for(tmp_path / "nothing-here"))


def test_prepare_ingests_sources_and_demos_once(tmp_path: Path) -> None:
    spec = KnowledgeSpec(
        path=tmp_path / "kb",
        sources=[EXAMPLE_KNOWLEDGE / "faq-diabetes.csv"],
        demos=[EXAMPLE_DEMOS],
    )
    summary, demos = prepare_knowledge(spec)
    assert summary is not None and summary.added == 6 and demos[0].added == 6
    summary, demos = prepare_knowledge(spec)
    assert summary is not None and summary.added == 0 and demos[0].added == 0
    assert prepare_knowledge(KnowledgeSpec(path=tmp_path / "kb")) == (None, [])


def test_a_condition_cannot_come_from_both_lists_and_knowledge() -> None:
    from synthloom.core.errors import SynthloomError
    from synthloom.spec import parse_spec

    text = (
        "samples: 1\ntopics: [t]\nconditions: {symptom: [cough]}\n"
        "knowledge:\n  conditions: [symptom]\n"
    )
    with pytest.raises(SynthloomError, match=r"s\.yaml.*'symptom' is under both `conditions`"):
        parse_spec(text, source="s.yaml")


def test_relative_sources_and_demos_are_read_beside_the_spec(tmp_path: Path) -> None:
    spec = KnowledgeSpec(path=Path("kb"), sources=[Path("docs"), tmp_path], demos=[Path("d.jsonl")])
    anchored = spec.anchored(tmp_path / "project")
    assert anchored.sources == [tmp_path / "project" / "docs", tmp_path]
    assert anchored.demos == [tmp_path / "project" / "d.jsonl"]
    assert anchored.path == Path("kb")  # written by the run: relative to where it runs
