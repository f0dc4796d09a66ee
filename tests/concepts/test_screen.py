"""The screen of proposed children: duplicates, near-duplicates, generic and off-topic names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from knowledge.concepts.screen import (
    Family,
    Proposed,
    Screener,
    ScreenRules,
    content_tokens,
    normalize_name,
)
from tests.concepts.scripted import HashingEmbeddings

if TYPE_CHECKING:  # imported lazily below: a missing model skips, not errors
    from knowledge.embeddings import LocalEmbeddings

FAMILY = Family(
    ancestors=["Chronic disease care", "Type 2 diabetes"],
    siblings=["Insulin therapy"],
    context=["Chronic disease care: ", "Type 2 diabetes: a chronic condition of blood sugar"],
)


def verdicts(screener: Screener, *proposed: tuple[str, str]) -> dict[str, str | None]:
    result = screener.screen([Proposed(n, d) for n, d in proposed], FAMILY)
    return {v.name: v.kind for v in result}


def test_normalization_folds_case_punctuation_articles_plurals_and_numerals() -> None:
    assert normalize_name("The Diabetic Retinopathies") == "diabetic retinopathy"
    assert normalize_name("Insulin-therapy") == normalize_name("insulin therapy")
    assert normalize_name("Type II diabetes") == normalize_name("type 2 diabetes")
    assert normalize_name("  Blood   glucose  ") == "blood glucose"
    assert normalize_name("Retinopathy, diabetic") != normalize_name("Diabetic retinopathy")
    assert content_tokens("Retinopathy, diabetic") == content_tokens("diabetic retinopathies")


def test_near_duplicate_proposals_are_rejected_lexically() -> None:
    kinds = verdicts(
        Screener(),
        ("Diabetic retinopathy", "eye damage from diabetes"),
        ("diabetic retinopathies", "the same, plural"),
        ("The diabetic retinopathy", "the same, with an article"),
        ("Retinopathy, diabetic", "the same, inverted"),
        ("Insulin-therapy", "duplicate of an existing sibling"),
        ("Type II diabetes", "the parent again"),
        ("Diabetic retinopathy screening", "eye checks for people with diabetes"),
        ("Foot care", "daily foot checks in diabetes"),
    )
    assert kinds == {
        "Diabetic retinopathy": None,
        "diabetic retinopathies": "duplicate",
        "The diabetic retinopathy": "duplicate",
        "Retinopathy, diabetic": "near_duplicate",
        "Insulin-therapy": "duplicate",
        "Type II diabetes": "duplicate",
        # 2 of 3 words shared (0.67 < 0.75): a narrower topic, not a rewording.
        "Diabetic retinopathy screening": None,
        "Foot care": None,
    }


def test_word_overlap_threshold_catches_reordered_longer_names() -> None:
    kinds = verdicts(
        Screener(),
        ("Diabetes mellitus type 2 diet", "diet in diabetes"),
        ("Type 2 diabetes mellitus diet", "diet in diabetes"),
    )
    assert kinds["Type 2 diabetes mellitus diet"] == "near_duplicate"


def test_generic_and_off_topic_children_are_rejected() -> None:
    screener = Screener(ScreenRules(exclude=("veterinary",)))
    result = screener.screen(
        [
            Proposed("Other topics", "anything else about diabetes"),
            Proposed("Diabetes overview", "an overview of type 2 diabetes"),
            Proposed("Chronic diabetes", "chronic type 2 diabetes"),
            Proposed("Stock market investing", "buying shares for retirement"),
            Proposed("Veterinary diabetes care", "diabetes in cats and dogs"),
            Proposed("Sick day rules", "what to do with diabetes medicines when ill"),
        ],
        FAMILY,
    )
    by_name = {v.name: v for v in result}
    assert by_name["Other topics"].kind == "generic"
    assert by_name["Diabetes overview"].kind == "generic"
    assert by_name["Chronic diabetes"].reason == (
        "over-generic: adds no word to 'Type 2 diabetes' and its ancestors"
    )
    assert by_name["Stock market investing"].kind == "off_topic"
    assert by_name["Veterinary diabetes care"].reason == (
        "off-topic: names the excluded term 'veterinary'"
    )
    assert by_name["Sick day rules"].accepted


async def test_embeddings_catch_misspellings_that_words_miss() -> None:
    proposals = [Proposed("Diabetic retinopathy", ""), Proposed("Diabetic retinopaty", "")]
    family = Family(ancestors=FAMILY.ancestors, siblings=[], context=FAMILY.context)
    lexical = Screener().screen(proposals, family)
    assert all(v.accepted for v in lexical)

    embedder = HashingEmbeddings()
    screener = Screener(ScreenRules(similarity_threshold=0.85, min_relevance=-1.0), embedder)
    await screener.prepare(Screener.texts_for(proposals, family))
    semantic = screener.screen(proposals, family)
    assert [v.kind for v in semantic] == [None, "near_duplicate"]
    assert semantic[1].reason is not None and "cosine 0.90" in semantic[1].reason
    # Vectors are cached: a second prepare of the same texts embeds nothing.
    calls = embedder.calls
    await screener.prepare(Screener.texts_for(proposals, family))
    assert embedder.calls == calls


def _local_embeddings() -> LocalEmbeddings:
    try:
        from knowledge.embeddings import default_embeddings

        embeddings = default_embeddings()
        embeddings.embed_query("probe")
    except Exception as exc:  # noqa: BLE001 - any missing piece means: skip
        pytest.skip(f"no local embedding model: {exc}")
    return embeddings


async def test_local_model_rejects_rewordings_and_off_topic_children() -> None:
    screener = Screener(ScreenRules(), _local_embeddings())
    family = Family(
        ancestors=["Chronic disease care", "Asthma"],
        siblings=["Childhood asthma"],
        context=["Chronic disease care: ", "Asthma: chronic inflammation of the airways"],
    )
    proposals = [
        Proposed("Asthma in children", "asthma that starts in childhood"),
        Proposed("Exercise-induced asthma", "asthma symptoms triggered by exercise"),
        Proposed("Stock market investing", "buying shares for retirement"),
    ]
    await screener.prepare(Screener.texts_for(proposals, family))
    kinds = [v.kind for v in screener.screen(proposals, family)]
    # Words alone see "asthma in children" / "childhood asthma" as different (1/3 overlap).
    assert kinds == ["near_duplicate", None, "off_topic"]


def test_name_index_finds_duplicates_in_other_branches_without_scanning_them() -> None:
    from knowledge.concepts.screen import NameIndex

    index = NameIndex(0.75)
    for name in ["Insulin pump therapy", "Foot ulcer care", "Diagnosis", "Blood glucose meters"]:
        index.add(name)
    assert index.match("insulin pump therapies") == ("Insulin pump therapy", 1.0)
    assert index.match("Therapy with an insulin pump") == ("Insulin pump therapy", 1.0)
    found = index.match("Care of a diabetic foot ulcer")
    assert found is not None and found[0] == "Foot ulcer care" and found[1] == 0.75
    # One-word names recur under many branches as different concepts: not compared.
    assert index.match("Diagnosis") is None
    assert index.match("Insulin pens") is None
    # An overlay sees its own additions and its parent's; the parent never sees the overlay's.
    batch = index.child()
    batch.add("Continuous glucose monitoring")
    assert batch.match("Continuous glucose monitoring")
    assert batch.match("Blood glucose meters")
    assert index.match("Continuous glucose monitoring") is None


def test_name_index_prefix_filter_misses_no_pair_above_the_threshold() -> None:
    import random

    from knowledge.concepts.screen import NameIndex, token_similarity

    rng = random.Random(7)
    words = [f"w{i}" for i in range(12)]
    names = [" ".join(rng.sample(words, rng.randint(2, 6))) for _ in range(300)]
    index = NameIndex(0.75)
    for name in names[:150]:
        index.add(name)
    for name in names[150:]:
        best = max(
            token_similarity(content_tokens(name), content_tokens(other)) for other in names[:150]
        )
        found = index.match(name)
        assert (found is not None) == (best >= 0.75), name
        if found is not None:
            assert found[1] == best
