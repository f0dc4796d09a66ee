"""`language` in the spec: dealt like a condition, carried on plans, checked as codes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from synthloom.core.errors import SpecError
from synthloom.planning import make_plans
from synthloom.spec import load_spec, parse_spec

BASE = "samples: 8\ntopics: [a, b]\n"


def test_weighted_languages_are_dealt_like_any_condition() -> None:
    spec = parse_spec(BASE + "language: {ko: 3, en: 1}\nconditions: {persona: [x, y]}\n")
    assert spec.languages == ["ko", "en"]
    plans = list(make_plans(spec))
    assert Counter(p.conditions["language"] for p in plans) == {"ko": 6, "en": 2}
    assert {p.conditions["persona"] for p in plans} == {"x", "y"}
    # The same dataset as writing the condition out by hand: same plans, same ids.
    by_hand = parse_spec(BASE + "conditions: {persona: [x, y], language: {ko: 3, en: 1}}\n")
    assert [p.id for p in make_plans(by_hand)] == [p.id for p in plans]


def test_one_language_and_the_english_default() -> None:
    assert {p.conditions["language"] for p in make_plans(parse_spec(BASE + "language: ko\n"))} == {
        "ko"
    }
    plain = parse_spec(BASE)
    assert plain.languages == ["en"] and "language" not in plain.conditions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("language: Korean\n", "'Korean' is not a language code"),
        ("language: ko\nconditions: {language: [en]}\n", "`language` is set twice"),
        ("language: []\n", "needs a language code"),
    ],
)
def test_bad_languages_get_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(BASE + text)


def test_prompt_folders_are_read_from_the_specs_folder(tmp_path: Path) -> None:
    (tmp_path / "mine" / "ko").mkdir(parents=True)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(BASE + "prompts: {dir: mine, languages: {ko: mine/ko}}\n")
    spec = load_spec(spec_file)
    assert spec.prompts.dir == tmp_path / "mine"
    assert spec.prompts.source().languages == (("ko", str(tmp_path / "mine" / "ko")),)
    spec_file.write_text(BASE + "prompts: {languages: {ko: missing}}\n")
    with pytest.raises(SpecError, match="prompts.languages.ko: .*missing is not a folder"):
        load_spec(spec_file)


def test_cot_roles_write_in_the_plans_language_and_the_questions() -> None:
    import asyncio
    import json

    from agents.reasoning import build_cot_roles
    from synthloom.core.records import Plan
    from tests.unit.fakes import RecordingFakeChatModel

    question = (
        "체중 70kg 성인이 하루 0.5단위/kg의 인슐린을 쓰고 절반을 기저로 씁니다. 몇 단위인가요?"
    )
    model = RecordingFakeChatModel(
        [
            json.dumps({"question": question}),
            json.dumps({"step": "35단위의 절반", "ready_to_answer": True}),
        ]
    )
    writer, reasoner, _ = build_cot_roles(
        model, model, model, system_prompt="신중한 전문가", min_steps=1, max_reasks=0
    )
    plan = Plan(id="x", index=0, topic="인슐린", conditions={"language": "ko"}, rounds=1)
    asyncio.run(writer.write(plan, feedback=None))
    asyncio.run(reasoner.next_step(question, [], feedback=None))
    written, stepped = (str(p[0].content) for p in model.prompts)
    assert "질문은 한국어로 씁니다" in written  # prompts/ko/question_writer.jinja2
    assert "다음 단계 하나만 한국어로" in stepped  # the Korean reasoner, from the question's script
    english = RecordingFakeChatModel(
        [json.dumps({"question": "How many basal units does a 70 kg adult on 0.5 units/kg need?"})]
    )
    writer, _, _ = build_cot_roles(
        english, english, english, system_prompt="An expert", min_steps=1, max_reasks=0
    )
    asyncio.run(writer.write(Plan(id="y", index=1, topic="insulin", rounds=1), feedback=None))
    assert str(english.prompts[0][0].content).startswith("You write exam-style questions")
