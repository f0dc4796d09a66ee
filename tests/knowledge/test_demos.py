"""Demos: reading chat datasets, idempotent adds, similar-and-varied selection per sample."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from knowledge.demos import DemoSelector, add_demos, parse_demo, read_demos
from knowledge.store import KnowledgeStore
from synthloom.core.errors import DemoFileError
from tests.knowledge.conftest import EXAMPLE_DEMOS, spec_for

FEVER_TOPIC = "When a fever in a child needs a doctor"
FEVER_QUESTIONS = [
    "My baby is 2 months old and has a temperature of 38.1, what do I do?",
    "My daughter has had a fever for six days now, should I worry?",
    "Can I give my son ibuprofen and paracetamol together for his fever?",
    "My child had a seizure when her temperature went up. Is that dangerous?",
    "How do I know if my feverish toddler is getting dehydrated?",
    "Should I put my hot child in a cold bath to bring the fever down?",
    "My 4 year old has a fever and a rash that doesn't fade under a glass.",
    "What is a normal temperature for a child and when is it a fever?",
    "Is an ear thermometer accurate for my 3 year old?",
    "My son has a fever but is playing happily, does he need a doctor?",
    "Can my child go to nursery with a mild fever?",
    "My baby is teething and feels warm, is that a fever?",
]


def test_example_demos_are_added_once(example_kb: Path) -> None:
    with KnowledgeStore(spec_for(example_kb)) as store:
        assert store.demos.count() == 6
        again = add_demos(store, EXAMPLE_DEMOS)
    assert (again.read, again.added, again.unchanged, again.total) == (6, 0, 6, 6)


def test_sharegpt_and_openai_records_parse_to_the_same_demo() -> None:
    openai = {
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Hi, is 38C a fever?"},
            {"role": "assistant", "content": "Yes, in a child 38C or more is a fever."},
        ]
    }
    sharegpt = {
        "conversations": [
            {"from": "human", "value": "Hi, is 38C a fever?"},
            {"from": "gpt", "value": "Yes, in a child 38C or more is a fever."},
        ]
    }
    assert parse_demo(openai) == parse_demo(sharegpt)
    assert [m["role"] for m in parse_demo(openai).messages] == ["user", "assistant"]


def test_bad_lines_are_skipped_with_their_line_numbers(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),
        json.dumps({"conversations": [{"from": "robot", "value": "x"}]}),
        json.dumps({"text": "no turns"}),
    ]
    path = tmp_path / "demos.jsonl"
    path.write_text("\n".join(lines) + "\n")
    demos, skipped = read_demos(path)
    assert [n for n, _ in demos] == [1]
    reasons = {s.source.rsplit(":", 1)[1]: s.reason for s in skipped}
    assert set(reasons) == {"2", "3", "4", "5"}
    assert "user and one assistant" in reasons["3"]
    assert "unknown role 'robot'" in reasons["4"]


def test_a_file_without_any_dialogue_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DemoFileError, match="not found"):
        read_demos(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(DemoFileError, match="no usable dialogue.*bad.jsonl:1"):
        read_demos(tmp_path / "bad.jsonl")


def test_selection_follows_the_concept(example_kb: Path) -> None:
    with KnowledgeStore(spec_for(example_kb)) as store:
        selector = DemoSelector(store.demos, store.embeddings)
        fever = selector.select(FEVER_TOPIC, 2)
        pressure = selector.select("Understanding high blood pressure readings", 2)
    assert {d.topic for d in fever} == {FEVER_TOPIC}
    assert {d.topic for d in pressure} == {"Understanding high blood pressure readings"}


def test_no_demo_sits_in_most_prompts(example_kb: Path, tmp_path: Path) -> None:
    extra = tmp_path / "fever-demos.jsonl"
    with extra.open("w") as handle:
        for question in FEVER_QUESTIONS:
            record = {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": f"A careful answer to: {question}"},
                ],
                "metadata": {"topic": "fever in children"},
            }
            handle.write(json.dumps(record) + "\n")
    samples, k = 40, 2
    with KnowledgeStore(spec_for(example_kb)) as store:
        add_demos(store, extra)
        selector = DemoSelector(store.demos, store.embeddings)
        picks = [selector.select(FEVER_TOPIC, k, seed=f"plan-{i}") for i in range(samples)]
        repeat = selector.select(FEVER_TOPIC, k, seed="plan-7")
        unseeded = [selector.select(FEVER_TOPIC, k) for _ in range(3)]
    uses = Counter(d.id for chosen in picks for d in chosen)
    assert all(len({d.id for d in chosen}) == k for chosen in picks)
    assert max(uses.values()) <= samples // 2, uses.most_common(3)
    assert len(uses) >= 8
    # Still about the concept, and the same plan always gets the same demos.
    topics = {d.id: d.topic for chosen in picks for d in chosen}
    about_fever = sum(n for i, n in uses.items() if "fever" in topics[i].lower())
    assert about_fever >= 0.9 * samples * k
    assert [d.id for d in repeat] == [d.id for d in picks[7]]
    assert unseeded[0] == unseeded[1] == unseeded[2]
