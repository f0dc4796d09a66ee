"""The Korean patterns on real Korean exchanges and on Korean failures planted in them."""

from __future__ import annotations

from pathlib import Path

from graphs.checks import first_problem
from synthloom.chatdata import read_chats
from synthloom.checks_eval import evaluate
from synthloom.core.records import Turn
from synthloom.curate.config import HeuristicsSpec
from synthloom.curate.heuristics import PhraseFilter
from synthloom.curate.sample import Sample

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
QUESTION: Turn = {"role": "user", "content": "혈압 목표가 어떻게 되나요? 요즘 자꾸 140이 넘어요."}


def test_the_korean_holdout_is_left_alone_and_planted_failures_are_caught() -> None:
    good = evaluate(read_chats(DATA / "korean_chatbot_holdout.jsonl.gz")).as_dict()
    assert good["good_turn_flag_rate"]["user"] <= 0.05
    assert good["good_turn_flag_rate"]["assistant"] <= 0.03
    bad = evaluate(read_chats(DATA / "korean_failures.jsonl.gz")).as_dict()
    assert bad["recall"] >= 0.95
    assert {kind: t["recall"] >= 0.9 for kind, t in bad["kinds"].items()} == dict.fromkeys(
        bad["kinds"], True
    )


def test_a_korean_role_flip_is_caught_and_a_person_saying_of_course_is_not() -> None:
    flipped: Turn = {
        "role": "user",
        "content": "물론입니다! 혈압 목표에 대한 개요는 다음과 같습니다.",
    }
    found = first_problem(flipped, [])
    assert found is not None and found.code == "role_flip"
    asked: Turn = {"role": "assistant", "content": "혈압을 매일 재고 계신가요?"}
    person: Turn = {
        "role": "user",
        "content": "물론이죠, 매일 아침 재요. 그런데 약은 언제 먹어야 하나요?",
    }
    assert first_problem(person, [QUESTION, asked]) is None
    tagged: Turn = {"role": "assistant", "content": "하루 두 번 재세요.\n\n사용자: 고마워요!"}
    found = first_problem(tagged, [QUESTION])
    assert found is not None and found.code == "role_flip"


def test_korean_slots_and_prompt_lines_are_caught() -> None:
    slot: Turn = {"role": "user", "content": "안녕하세요, 저는 [이름]이고 두통이 있어요."}
    leak: Turn = {"role": "user", "content": "지금까지의 대화: 머리가 아파요"}
    codes = [getattr(first_problem(turn, []), "code", None) for turn in (slot, leak)]
    assert codes == ["placeholder", "prompt_leak"]


def test_curation_drops_a_korean_refusal_and_keeps_a_hedge() -> None:
    phrases = PhraseFilter(HeuristicsSpec())
    refusal = "죄송하지만 그 요청에는 도움을 드릴 수 없습니다."
    hedge = "정확한 진단은 진료가 필요하지만, 두통이 사흘 넘게 가면 병원에 가 보세요."
    for text, keep in ((refusal, False), (hedge, True)):
        sample = Sample({"messages": [QUESTION, {"role": "assistant", "content": text}]})
        assert phrases.check(sample)[0] is keep, text
