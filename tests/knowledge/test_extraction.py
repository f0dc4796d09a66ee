"""Knowledge-drawn condition values: schema, grounding in passages, cache, re-asks, draws."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from knowledge.extraction import (
    CACHE_FILE,
    ConditionExtractionError,
    ConditionExtractor,
    ConditionValue,
    condition_schema,
    draw_conditions,
    extract_condition_values,
    extractor_prompt,
)
from knowledge.retrieval import Chunk
from tests.unit.fakes import RecordingFakeChatModel

CHUNKS = [
    Chunk(
        "id-symptoms",
        "Type 2 diabetes > Symptoms\nThirst, passing urine often.",
        "d.md",
        "T",
        0,
        0.8,
    ),
    Chunk("id-treatment", "Type 2 diabetes > Treatment\nMetformin is first.", "d.md", "T", 1, 0.7),
]
ATTRIBUTES = {"symptom": "a symptom the person has", "medication": "a medicine they take"}


def answer(**values: list[tuple[str, str]]) -> str:
    return json.dumps(
        {name: [{"value": v, "source": s} for v, s in items] for name, items in values.items()}
    )


GOOD = answer(
    symptom=[
        ("increased thirst", "S1"),
        ("passing urine often", "S1"),
        ("Increased  thirst", "S1"),
    ],
    medication=[("metformin", "S2"), ("an invented drug", "S9")],
)


async def test_values_are_tied_to_real_chunks_and_cached(tmp_path: Path) -> None:
    model = RecordingFakeChatModel([GOOD])
    extractor = ConditionExtractor(model, ATTRIBUTES, cache_path=tmp_path / CACHE_FILE)
    first = await extractor.extract("Managing type 2 diabetes", CHUNKS)
    assert first.values == {
        "symptom": [
            ConditionValue("increased thirst", "id-symptoms"),
            ConditionValue("passing urine often", "id-symptoms"),
        ],
        # A value whose passage label does not exist is dropped, never invented.
        "medication": [ConditionValue("metformin", "id-treatment")],
    }
    assert not first.cached and first.usage.calls == 1
    prompt = str(model.prompts[0][0].content)
    assert "[S1]" in prompt and "Thirst, passing urine often." in prompt
    assert "- symptom: a symptom the person has" in prompt

    # A second extractor (another process, a resumed run) reads the file: no model call.
    again = ConditionExtractor(
        RecordingFakeChatModel([]), ATTRIBUTES, cache_path=tmp_path / CACHE_FILE
    )
    second = await again.extract("Managing type 2 diabetes", CHUNKS)
    assert second.cached and second.values == first.values
    cache = json.loads((tmp_path / CACHE_FILE).read_text())
    assert [e["concept"] for e in cache["entries"].values()] == ["Managing type 2 diabetes"]


async def test_concurrent_samples_of_one_concept_ask_once(tmp_path: Path) -> None:
    model = RecordingFakeChatModel([GOOD])
    extractor = ConditionExtractor(model, ATTRIBUTES, cache_path=tmp_path / CACHE_FILE)
    results = await asyncio.gather(*(extractor.extract("T2D", CHUNKS) for _ in range(5)))
    assert len(model.prompts) == 1
    assert all(r.values == results[0].values for r in results)


async def test_malformed_answers_are_reasked_then_given_up(tmp_path: Path) -> None:
    model = RecordingFakeChatModel(['{"symptom": "thirst"}', GOOD])
    extractor = ConditionExtractor(model, ATTRIBUTES, cache_path=tmp_path / CACHE_FILE)
    result = await extractor.extract("T2D", CHUNKS)
    assert result.usage.calls == 2 and result.values["medication"]
    assert "not valid JSON for the schema (symptom" in str(model.prompts[1][-1].content)

    broken = RecordingFakeChatModel(["nope", "still nope"])
    extractor = ConditionExtractor(
        broken, ATTRIBUTES, cache_path=tmp_path / "other.json", max_reasks=1
    )
    with pytest.raises(ConditionExtractionError, match="malformed JSON 2 times") as info:
        await extractor.extract("T2D", CHUNKS)
    assert info.value.usage.calls == 2
    assert not (tmp_path / "other.json").exists()


async def test_function_form_accepts_attribute_names(tmp_path: Path) -> None:
    model = RecordingFakeChatModel([answer(symptom=[("thirst", "S1")])])
    result = await extract_condition_values(model, "T2D", CHUNKS, ["symptom"], kb_path=tmp_path)
    assert result.values == {"symptom": [ConditionValue("thirst", "id-symptoms")]}
    assert (tmp_path / CACHE_FILE).exists()


def test_schema_has_one_described_list_per_attribute() -> None:
    schema = condition_schema(ATTRIBUTES).model_json_schema()
    assert set(schema["properties"]) == {"symptom", "medication"}
    assert schema["properties"]["symptom"]["description"] == "a symptom the person has"
    assert extractor_prompt().sample_render()


def test_draws_are_deterministic_per_seed_and_skip_empty_attributes() -> None:
    values = {
        "symptom": [ConditionValue(v, f"c{i}") for i, v in enumerate(["a", "b", "c", "d"])],
        "medication": [],
    }
    first = draw_conditions(values, "plan-1")
    assert first == draw_conditions(values, "plan-1")
    assert set(first[0]) == {"symptom"}
    assert first[1] == [f"c{'abcd'.index(first[0]['symptom'])}"]
    drawn = {draw_conditions(values, f"plan-{i}")[0]["symptom"] for i in range(30)}
    assert drawn == {"a", "b", "c", "d"}


async def test_an_attribute_with_no_cited_passage_is_reported_and_never_cached(
    tmp_path: Path,
) -> None:
    # Every medication cites a passage that does not exist: nothing valid is left.
    uncited = answer(symptom=[("increased thirst", "S1")], medication=[("insulin", "S7")])
    model = RecordingFakeChatModel([uncited])
    extractor = ConditionExtractor(model, ATTRIBUTES, cache_path=tmp_path / CACHE_FILE)
    first = await extractor.extract("Managing type 2 diabetes", CHUNKS)
    assert first.values["medication"] == [] and first.missing == ("medication",)
    assert extractor.missing == {"Managing type 2 diabetes": ("medication",)}
    assert not (tmp_path / CACHE_FILE).exists()
    # Within the run the concept is asked once; the answer is held in memory.
    again = await extractor.extract("Managing type 2 diabetes", CHUNKS)
    assert again.cached and again.missing == ("medication",) and len(model.prompts) == 1
    # The next run asks again, and caches a complete answer.
    next_model = RecordingFakeChatModel([GOOD])
    next_run = ConditionExtractor(next_model, ATTRIBUTES, cache_path=tmp_path / CACHE_FILE)
    third = await next_run.extract("Managing type 2 diabetes", CHUNKS)
    assert len(next_model.prompts) == 1 and not third.missing and not third.cached
    assert third.values["medication"] == [ConditionValue("metformin", "id-treatment")]
    assert (tmp_path / CACHE_FILE).exists()
