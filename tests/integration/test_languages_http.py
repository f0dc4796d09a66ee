"""A mixed Korean/English run over real HTTP: each sample in its planned language.

The scripted server answers in Korean when the prompt it is sent is Korean (the
packaged `prompts/ko/` files) and in English otherwise, so a record in the wrong
language means a role was prompted in the wrong one. One Korean dialogue's second
answer switches to English, as weak models do; curation's language filter, holding
each sample to its own planned language, must catch it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from synthloom.curate.language import identify
from tests.integration.conftest import cli, read_jsonl
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

SWITCH_TOPIC = "Sleep after a night shift"
KOREAN_USER = (
    "요즘 밤에 잠이 잘 안 오는데, 자기 전에 휴대폰을 보는 습관이 영향을 줄까요?",
    "혈압약을 먹기 시작했는데 아침에 어지러운 느낌이 있어요. 괜찮은 건가요?",
    "아이가 열이 38도 넘게 나는데 해열제는 몇 시간 간격으로 먹여야 하나요?",
    "운동을 시작하려고 하는데 무릎이 약해서 어떤 운동이 좋을지 모르겠어요.",
)
KOREAN_ASSISTANT = (
    "자기 전 한 시간 정도는 화면을 멀리하는 것이 좋습니다. "
    "화면의 빛이 잠을 부르는 호르몬을 줄일 수 있어요.",
    "약을 시작한 뒤 처음 몇 주는 어지러울 수 있습니다. "
    "일어날 때 천천히 움직이고, 계속되면 처방한 의사와 상의하세요.",
    "해열제는 종류에 따라 네 시간에서 여섯 시간 간격으로 먹입니다. "
    "하루 최대 용량을 넘기지 않도록 주의하세요.",
    "무릎에 부담이 적은 수영이나 실내 자전거부터 시작해 보세요. "
    "통증이 있으면 강도를 낮추는 것이 좋습니다.",
)
ENGLISH_USER = (
    "I have been sleeping badly since I started night shifts. What should I try first?",
    "My new blood pressure pills make me dizzy in the morning. Is that normal at all?",
    "How far apart should I give my toddler fever medicine when the fever stays high?",
    "I want to start exercising but my knees are weak. Which kinds of exercise are gentle?",
)
ENGLISH_ASSISTANT = (
    "Sleeping badly after switching to nights is common; a dark, cool bedroom helps.",
    "Some dizziness is common in the first weeks; stand up slowly, tell your doctor if it stays.",
    "Most fever medicines are given four to six hours apart; never go over the daily maximum dose.",
    "Swimming and a stationary bike are easy on the knees; lower the effort if they start to hurt.",
)


def _pick(options: tuple[str, ...], body: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(body["messages"]).encode()).digest()
    return options[(digest[0] + len(body["messages"])) % len(options)]


def answer_in_the_prompts_language(body: dict[str, Any]) -> str | None:
    """Korean for a Korean prompt, English otherwise; one planted switch to English."""
    text = json.dumps(body["messages"], ensure_ascii=False)
    korean = re.search("[가-힣]", text) is not None
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    if schema.get("name") == "UserReply":
        # A new message each round (and on each regeneration): no repeats to reject.
        said = len(re.findall(r"(?:PERSON|사람): ", text)) + len(re.findall("rejected|거절", text))
        options = KOREAN_USER if korean else ENGLISH_USER
        message = options[said % len(options)]
        return json.dumps({"message": message, "end_conversation": False}, ensure_ascii=False)
    if schema:
        return None
    answers = sum(1 for m in body["messages"] if m["role"] == "assistant")
    if korean and SWITCH_TOPIC in text and answers == 1:
        return "Here is the short version in English: keep a fixed sleep window after shifts."
    return _pick(KOREAN_ASSISTANT if korean else ENGLISH_ASSISTANT, body)


def test_a_mixed_run_writes_each_sample_in_its_planned_language(tmp_path: Path) -> None:
    output = tmp_path / "run"
    with ScriptedOpenAIServer(responder=answer_in_the_prompts_language) as server:
        spec = f"""\
task: dialogue
samples: 4
seed: 5
output: {json.dumps(str(output))}
concurrency: 4
topics: ["{SWITCH_TOPIC}", "Starting blood pressure medicine"]
language: {{ko: 1, en: 1}}
dialogue: {{rounds: {{min: 2, max: 2}}}}
novelty: {{enabled: false}}
curate:
  heuristics: {{enabled: false}}
  dedup: {{semantic: false, near: false, exact: false}}
  judge: {{enabled: false}}
  faithfulness: {{enabled: false}}
models:
  default: {{provider: openai, base_url: {json.dumps(server.base_url)}, model: scripted-model,
             max_tokens: 200, timeout: 5}}
"""
        (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
        done = cli("run", "spec.yaml", "--no-progress", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        prompts = json.dumps(server.request_log, ensure_ascii=False)
    generated = read_jsonl(output / "samples.jsonl")
    assert len(generated) == 4
    assert sorted(r["metadata"]["language"] for r in generated) == ["en", "en", "ko", "ko"]
    assert "당신은 AI 어시스턴트와 대화하는 한 사람" in prompts  # the Korean prompt file
    kept = read_jsonl(output / "curated" / "samples.jsonl")
    dropped = read_jsonl(output / "curated" / "rejects.jsonl")
    for record in kept:
        planned = record["metadata"]["conditions"]["language"]
        turns = [m for m in record["messages"] if m["role"] != "system"]
        assert {identify(m["content"])[0] for m in turns} == {planned}, record["messages"]
    switched = {
        r["metadata"]["id"]
        for r in generated
        if r["metadata"]["language"] == "ko" and r["metadata"]["topic"] == SWITCH_TOPIC
    }
    assert switched and {r["id"] for r in dropped} == switched
    assert {r["reason_code"] for r in dropped} == {"language"}
    assert all("planned ko" in r["reason"] for r in dropped)
