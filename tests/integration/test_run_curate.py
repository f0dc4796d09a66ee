"""`synthloom run` with a `curate:` block: generation, then curation, in one command.

The judge is the scripted server too, answering the rubric schema with scores that
depend on the dialogue's topic, so which samples curation keeps is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import cli, read_jsonl, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

LOW_TOPIC = "Choosing a first road bicycle"


def judge_by_topic(body: dict[str, Any]) -> str | None:
    """Rubric verdicts: 2 for the bicycle dialogues, 4 for the rest; other calls default."""
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    if schema.get("name") != "RubricVerdict":
        return None
    score = 2 if LOW_TOPIC in json.dumps(body["messages"]) else 4
    return json.dumps(
        {
            "rationale": "Scripted verdict.",
            "criteria": [{"criterion": "helpfulness", "score": score}],
            "overall": score,
        }
    )


def rubric_calls(server: ScriptedOpenAIServer) -> int:
    """Requests for a rubric verdict the server has received."""
    return sum(1 for body in server.request_log if "RubricVerdict" in json.dumps(body))


def test_run_curates_after_generation_and_counts_add_up(tmp_path: Path) -> None:
    output = tmp_path / "run"
    with ScriptedOpenAIServer(responder=judge_by_topic) as server:
        spec = spec_yaml(server.base_url, output, samples=6, concurrency=3)
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(spec + "curate:\n  dedup: {semantic: false}\n", encoding="utf-8")
        done = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        judged = rubric_calls(server)

        generated = read_jsonl(output / "samples.jsonl")
        kept = read_jsonl(output / "curated" / "samples.jsonl")
        dropped = read_jsonl(output / "curated" / "rejects.jsonl")
        low = {r["metadata"]["id"] for r in generated if r["metadata"]["topic"] == LOW_TOPIC}
        assert 0 < len(low) < len(generated)
        assert judged == len(generated)  # every accepted sample was judged once
        assert {r["metadata"]["id"] for r in kept} == {r["metadata"]["id"] for r in generated} - low
        assert {r["id"] for r in dropped} == low
        assert all(r["reason"].startswith("low_score: overall 2") for r in dropped)
        assert all(r["metadata"]["curation"]["judge"]["overall"] == 4 for r in kept)
        report = json.loads((output / "curated" / "curation.json").read_text(encoding="utf-8"))
        c = report["counts"]
        assert c["requested"] == 6 == c["accepted"] + c["rejected"] + c["failed"] + c["pending"]
        assert (c["accepted"], c["rejected"]) == (len(kept), len(dropped))

        # Re-running generates nothing and re-judges nothing: judgements are cached.
        again = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert rubric_calls(server) == judged
        rerun = read_jsonl(output / "curated" / "samples.jsonl")
        assert [r["metadata"]["id"] for r in rerun] == [r["metadata"]["id"] for r in kept]
        assert all(r["metadata"]["curation"]["judge"]["cached"] for r in rerun)


def test_curate_on_its_own_judges_over_http_and_closes_its_connections(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(responder=judge_by_topic) as server:
        spec = tmp_path / "spec.yaml"
        spec.write_text(spec_yaml(server.base_url, tmp_path / "run", samples=3, rounds=(1, 1)))
        generated = cli("run", str(spec), "--no-progress", cwd=tmp_path)
        assert generated.returncode == 0, generated.stderr
        config = tmp_path / "curate.yaml"
        config.write_text("judge: {enabled: true}\n")
        before = server.requests
        curated = cli("curate", str(tmp_path / "run"), "--config", str(config), cwd=tmp_path)
        judged = server.requests - before
    assert curated.returncode == 0, curated.stderr
    assert judged >= 3  # every sample went to the judge over HTTP
    # aiohttp warns of every session left open when the command's loop ends.
    assert "Unclosed" not in curated.stderr + curated.stdout
