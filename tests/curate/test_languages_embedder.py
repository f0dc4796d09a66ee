"""One embedder per run, chosen by its languages; lexical figures counted to fit the script."""

from __future__ import annotations

import json
from pathlib import Path

from synthloom.curate.config import DedupSpec
from synthloom.curate.embedders import default_embedder, semantic_threshold_for
from synthloom.curate.sample import Sample
from synthloom.curate.semantic import SemanticDedup
from synthloom.languages import languages_of_run
from synthloom.report.metrics import distinct_n
from synthloom.report.tokens import WORDS, metric_tokens, tokenization_of

ANSWER = "혈압은 보통 130/80 mmHg 미만을 목표로 합니다. 짠 음식을 줄이고 매일 걸으세요."


def test_a_run_planning_korean_uses_the_multilingual_model_and_says_so() -> None:
    english, english_note = default_embedder(["en"])
    korean, korean_note = default_embedder(["ko", "en"])
    assert english is not None and korean is not None
    assert english_note == "all-MiniLM-L6-v2 (local)"
    assert korean_note == "multilingual-e5-small (local), chosen for ko"
    assert type(korean).__name__ == "MultilingualEmbeddings"
    # e5's texts sit close together: its measured threshold is its own.
    assert semantic_threshold_for(english) == 0.95
    assert semantic_threshold_for(korean) > 0.95
    # A Korean near-copy goes, a different answer on the same subject stays.
    other = "고혈압 약은 매일 같은 시간에 드시고, 어지러우면 일어설 때 천천히 움직이세요."
    samples = [
        Sample({"messages": [{"role": "assistant", "content": text}], "metadata": {"id": sid}})
        for sid, text in (("a", ANSWER), ("copy", ANSWER.replace("매일", "매일,")), ("b", other))
    ]
    assert set(SemanticDedup(DedupSpec(), korean).run(samples)) == {"copy"}


def test_the_run_folder_names_its_languages(tmp_path: Path) -> None:
    assert languages_of_run(tmp_path) == []
    spec = {"conditions": {"language": [{"value": "ko", "weight": 3}, {"value": "en"}]}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert languages_of_run(tmp_path) == ["ko", "en"]
    (tmp_path / "spec.json").write_text(json.dumps({"conditions": {}}))
    assert languages_of_run(tmp_path) == ["en"]


def test_korean_is_counted_by_syllable_and_english_by_word() -> None:
    assert metric_tokens("병원에 가요. See a doctor") == [
        "병",
        "원",
        "에",
        "가",
        "요",
        "see",
        "a",
        "doctor",
    ]
    assert tokenization_of(["See a doctor"]) == WORDS
    assert tokenization_of(["병원에 가요"]) != WORDS
    # Three endings of one word: distinct as spaced words, mostly shared as syllables.
    texts = ["병원에 가요", "병원은 어디예요", "병원까지 멀어요"]
    by_word = distinct_n([t.split() for t in texts], 1)
    by_syllable = distinct_n([metric_tokens(t) for t in texts], 1)
    assert by_word == 1.0 and by_syllable is not None and by_syllable < 0.8
