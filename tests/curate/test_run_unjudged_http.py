"""`synthloom run` with a `curate:` block whose judge answers badly, over real HTTP.

The scripted server generates the dialogues and plays the judge. Its rubric answers
depend on the dialogue's topic: valid, malformed JSON, or JSON that fails the
verdict's validation (a score out of range). A judge answer that stays unusable
after the re-asks leaves its sample "unjudged": held back in the rejects file with
the reason, counted as failed, and judged again by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import cli, read_jsonl, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

GOOD = "Sleep hygiene for night-shift nurses"
MALFORMED = "Choosing a first road bicycle"
INVALID = "Repotting a root-bound houseplant"


def verdict(score: int) -> str:
    """A rubric verdict as the judge would send it (`score` may be out of range)."""
    return json.dumps(
        {
            "rationale": "Scripted verdict.",
            "criteria": [{"criterion": "helpfulness", "score": min(score, 5)}],
            "overall": score,
        }
    )


def judge(answers: dict[str, str]) -> Callable[[dict[str, Any]], str | None]:
    """A responder answering rubric requests by topic; generation requests get defaults."""

    def respond(body: dict[str, Any]) -> str | None:
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        if schema.get("name") != "RubricVerdict":
            return None
        text = json.dumps(body["messages"])
        return next(answer for topic, answer in answers.items() if topic in text)

    return respond


def rubric_requests(server: ScriptedOpenAIServer) -> list[dict[str, Any]]:
    """The rubric requests the server has received."""
    return [b for b in server.request_log if "RubricVerdict" in json.dumps(b)]


def test_unusable_judge_answers_are_retried_then_held_as_unjudged(tmp_path: Path) -> None:
    output = tmp_path / "run"
    first = {GOOD: verdict(4), MALFORMED: '{"rationale": "cut off', INVALID: verdict(9)}
    with ScriptedOpenAIServer(responder=judge(first)) as server:
        spec = spec_yaml(server.base_url, output, samples=9, concurrency=3)
        spec_path = tmp_path / "spec.yaml"
        curate = "curate:\n  max_reasks: 1\n  dedup: {semantic: false, near: false}\n"
        spec_path.write_text(spec + curate, encoding="utf-8")
        done = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        requests = len(rubric_requests(server))

        generated = read_jsonl(output / "samples.jsonl")
        topic = {r["metadata"]["id"]: r["metadata"]["topic"] for r in generated}
        by_topic = {t: {i for i, x in topic.items() if x == t} for t in (GOOD, MALFORMED, INVALID)}
        assert all(by_topic.values()), by_topic
        bad = by_topic[MALFORMED] | by_topic[INVALID]
        # Good answers are asked once; unusable ones once more (max_reasks: 1).
        assert requests == len(by_topic[GOOD]) + 2 * len(bad)

        kept = read_jsonl(output / "curated" / "samples.jsonl")
        held = {r["id"]: r for r in read_jsonl(output / "curated" / "rejects.jsonl")}
        assert {r["metadata"]["id"] for r in kept} == by_topic[GOOD]
        assert set(held) == bad  # neither silently kept nor silently dropped
        assert {r["status"] for r in held.values()} == {"unjudged"}
        for sid in by_topic[MALFORMED]:
            assert "malformed JSON 2 times" in held[sid]["reason"], held[sid]
            text = held[sid]["reason"].removeprefix("unjudged: ")
            assert held[sid]["reasons"] == [{"block": "judge", "code": "unjudged", "reason": text}]
            assert held[sid]["reason_code"] == "unjudged"
        for sid in by_topic[INVALID]:
            assert "overall" in held[sid]["reason"] and "5" in held[sid]["reason"], held[sid]
        curation = json.loads((output / "curated" / "curation.json").read_text("utf-8"))
        counts = curation["counts"]
        assert counts["requested"] == 9 == sum(counts[k] for k in counts if k != "requested")
        assert counts["accepted"] == len(by_topic[GOOD])
        assert curation["curation"]["unjudged"] == len(bad)
        assert counts["failed"] == curation["failed_breakdown"]["generation"] + len(bad)
        assert f"(of which {len(bad)} unjudged)" in done.stderr

        # The judge recovers: the next run judges only the held samples.
        server.responder = judge({GOOD: verdict(1), MALFORMED: verdict(4), INVALID: verdict(2)})
        again = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(rubric_requests(server)) == requests + len(bad)

    kept = read_jsonl(output / "curated" / "samples.jsonl")
    dropped = {r["id"]: r for r in read_jsonl(output / "curated" / "rejects.jsonl")}
    # The good samples keep their cached verdict (4), not the new judge's 1.
    assert {r["metadata"]["id"] for r in kept} == by_topic[GOOD] | by_topic[MALFORMED]
    assert set(dropped) == by_topic[INVALID]
    assert all(r["status"] == "rejected" for r in dropped.values())
    assert all(r["reason"].startswith("low_score: overall 2") for r in dropped.values())
    counts = json.loads((output / "curated" / "curation.json").read_text("utf-8"))["counts"]
    assert counts["requested"] == 9 == sum(counts[k] for k in counts if k != "requested")
    assert counts["failed"] == curation["failed_breakdown"]["generation"]
