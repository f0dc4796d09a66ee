"""One judge pass over real HTTP against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.judge import build_judges
from agents.llm import make_chat_model
from synthloom.curate.config import CurateSpec
from synthloom.curate.pipeline import Judges, curate_run
from synthloom.spec import ModelSpec
from tests.curate.conftest import build_run, read_jsonl, small_spec
from tests.curate.fakes import rubric_json
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def judges_for(server: ScriptedOpenAIServer) -> Judges:
    spec = ModelSpec(
        provider="openai", base_url=server.base_url, model="judge-model", max_retries=0, timeout=10
    )
    rubric, _, _ = build_judges(make_chat_model(spec), max_reasks=1)
    return Judges(rubric=rubric)


def respond(body: dict[str, Any]) -> str | None:
    """Valid verdicts, except for the dialogue marked 'question (1)': never valid JSON."""
    prompt = body["messages"][0]["content"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "RubricVerdict"
    if "question (1)." in prompt:
        return '{"rationale": "cut off'
    return rubric_json(2 if "question (0)." in prompt else 4)


async def test_a_judge_pass_over_http_keeps_rejects_and_marks_unjudged(tmp_path: Path) -> None:
    run = tmp_path / "run"
    build_run(run, small_spec(samples=4))
    spec = CurateSpec(faithfulness={"enabled": False}, dedup={"semantic": False})
    with ScriptedOpenAIServer(responder=respond) as server:
        result = await curate_run(run, spec, judges=judges_for(server))
        requests = server.stats.request_log
    # 4 samples: 3 answered at once, 1 asked twice (max_reasks=1) and left unjudged.
    assert len(requests) == 5
    assert result.counts == {
        "requested": 4,
        "accepted": 2,
        "rejected": 1,
        "failed": 1,
        "pending": 0,
    }
    rejects = {r["metadata"]["index"]: r for r in read_jsonl(run / "curated" / "rejects.jsonl")}
    assert rejects[0]["status"] == "rejected" and rejects[0]["reason"].startswith(
        "low_score: overall 2"
    )
    assert rejects[1]["status"] == "unjudged"
    assert "rubric judge gave malformed JSON 2 times" in rejects[1]["reason"]
    usage = json.loads((run / "curated" / "curation.json").read_text())["judge_usage"]
    assert usage["calls"] == 5 and usage["prompt_tokens"] > 0
    # The re-ask carried the parse error back to the model.
    reask = [r for r in requests if len(r["messages"]) == 3]
    assert len(reask) == 1 and "not valid JSON" in reask[0]["messages"][2]["content"]
