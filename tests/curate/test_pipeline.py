"""The curation pipeline over a run folder: counts add up, every reason kept, re-runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agents.judge import build_judges
from synthloom.core.errors import RunDirError
from synthloom.core.records import Plan, Turn
from synthloom.curate.config import CurateSpec
from synthloom.curate.pipeline import Judges, curate_run
from synthloom.run_tree import load_run_tree
from tests.curate.conftest import (
    EXCHANGES,
    ConceptEmbeddings,
    build_run,
    dialogue,
    example_topics,
    exchanges_for,
    read_jsonl,
    small_spec,
)
from tests.curate.fakes import ScriptedJudgeModel, claims_json, labels_json, rubric_json

FEVER = EXCHANGES["When a fever in a child needs a doctor"]
SPEC = small_spec(samples=12)
SOURCES = [
    "Fever over five days needs a doctor's review.",
    "Febrile seizures are usually harmless.",
]


def scripted_turns(plan: Plan) -> list[Turn] | None:
    """Plan 2 refuses and is too short; 3 repeats plan 1; 5 is low quality for the judge."""
    if plan.index == 2:
        return dialogue(("Can you help?", "As an AI, I cannot."), system=None)
    if plan.index == 3:
        first = exchanges_for(plan.topic, 1, plan.rounds)
        return None if first is None else _copy_of_plan(1)
    if plan.index == 5:
        return dialogue(("low-quality-marker: fever?", FEVER[0][1]), system=None)
    return None


def _copy_of_plan(index: int) -> list[Turn]:
    plan = next(p for p in _plans() if p.index == index)
    return dialogue(*exchanges_for(plan.topic, plan.index, plan.rounds), system=None)


def _plans() -> list[Plan]:
    from synthloom.planning import make_plans

    return list(make_plans(SPEC, load_run_tree(SPEC)))


def extra(plan: Plan) -> dict[str, Any]:
    return {"sources": SOURCES} if plan.index % 2 == 0 else {}


def judge_reply(prompt: str, _: object) -> str:
    if "Rubric" in prompt:
        return rubric_json(1 if "low-quality-marker" in prompt else 4, "Fine.")
    if "Sources:" in prompt:
        return claims_json("supported", "supported")
    return labels_json("other" if "low-quality-marker" in prompt else example_topics()[0])


def judges(model: ScriptedJudgeModel) -> Judges:
    rubric, faithfulness, labeler = build_judges(model, max_reasks=1)
    return Judges(rubric=rubric, faithfulness=faithfulness, labelers={"judge": labeler})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    build_run(
        path,
        SPEC,
        turns_for=scripted_turns,
        extra_meta=extra,
        gen_rejects=[
            (7, "rejected", "user simulator gave malformed JSON 3 times: x", "malformed_output"),
            (9, "failed", "HTTP 400 from http://x/v1: context too long", "http_400"),
        ],
    )
    return path


async def test_curation_keeps_every_reason_and_the_counts_add_up(run: Path) -> None:
    before = {name: digest(run / name) for name in ("samples.jsonl", "rejects.jsonl", "run.json")}
    model = ScriptedJudgeModel(judge_reply)
    spec = CurateSpec(labels={"enabled": True})
    result = await curate_run(run, spec, judges=judges(model), embedder=ConceptEmbeddings())

    assert result.counts == {
        "requested": 12,
        "accepted": 7,
        "rejected": 4,
        "failed": 1,
        "pending": 0,
    }
    kept = read_jsonl(run / "curated" / "samples.jsonl")
    rejects = {r["id"]: r for r in read_jsonl(run / "curated" / "rejects.jsonl")}
    assert len(kept) == 7 and len(rejects) == 3
    by_index = {r["metadata"]["index"]: r for r in rejects.values()}
    refusal = by_index[2]
    assert {(r["block"], r["code"]) for r in refusal["reasons"]} == {
        ("length", "length"),
        ("phrases", "refusal"),
    }
    assert refusal["reason_code"] in {"length", "refusal"}
    assert "refusal: assistant turn 2 says 'As an AI'" in refusal["reason"]
    assert by_index[3]["reasons"][0]["block"] == "exact_dedup"
    assert by_index[3]["reason_code"] == "duplicate"
    low = by_index[5]
    assert low["status"] == "rejected"
    assert [(r["block"], r["code"]) for r in low["reasons"]] == [("judge", "low_score")]
    assert low["curation"]["judge"]["overall"] == 1
    assert low["curation"]["flags"] == [
        f"off_topic: labelled 'other', planned '{low['metadata']['topic']}'"
    ]

    for record in kept:
        curation = record["metadata"]["curation"]
        assert curation["judge"]["overall"] == 4
        assert curation["faithfulness"]["checked"] is (record["metadata"]["index"] % 2 == 0)
        assert "labels" in curation

    summary = json.loads((run / "curated" / "curation.json").read_text())
    counts = summary["counts"]
    assert counts["requested"] == counts["accepted"] + counts["rejected"] + counts["failed"]
    blocks = {b["name"]: b for b in summary["blocks"]}
    assert blocks["length"]["seen"] == 10 and blocks["length"]["rejected"] == 1
    # Counted by code, whatever the detail ("turn 2 has 12 chars" or "sample has 3 words").
    assert blocks["length"]["reasons"] == {"length": 1}
    assert blocks["judge"]["reasons"] == {"low_score": 1}
    assert blocks["exact_dedup"]["seen"] == 9 and blocks["exact_dedup"]["rejected"] == 1
    assert blocks["judge"] | {"reasons": None} == blocks["judge"] | {
        "seen": 8,
        "kept": 7,
        "rejected": 1,
        "unjudged": 0,
        "reasons": None,
    }
    for block in summary["blocks"]:
        assert block["seen"] == block["kept"] + block["rejected"] + block["unjudged"]
    assert summary["judge_usage"]["calls"] == model.calls
    # Generation output is never touched.
    assert before == {name: digest(run / name) for name in before}


async def test_a_re_run_reuses_every_judgement(run: Path) -> None:
    model = ScriptedJudgeModel(judge_reply)
    await curate_run(run, CurateSpec(), judges=judges(model))
    calls = model.calls
    first = (run / "curated" / "samples.jsonl").read_text()
    result = await curate_run(run, CurateSpec(judge={"min_score": 5}), judges=judges(model))
    assert model.calls == calls
    assert result.usage.calls == 0
    assert result.counts["accepted"] == 0  # every cached score is 4 or 1: now below 5
    assert first != (run / "curated" / "samples.jsonl").read_text()


async def test_unjudged_samples_are_held_back_then_judged_on_the_next_run(run: Path) -> None:
    broken = ScriptedJudgeModel(lambda prompt, _: "I think it is fine.")
    spec = CurateSpec(faithfulness={"enabled": False})
    result = await curate_run(run, spec, judges=judges(broken))
    assert result.curation["unjudged"] == 8 and result.counts["accepted"] == 0
    assert result.counts["failed"] == 1 + 8
    held = [r for r in read_jsonl(run / "curated" / "rejects.jsonl") if r["status"] == "unjudged"]
    assert len(held) == 8
    assert held[0]["reason"].startswith("unjudged: rubric judge gave malformed JSON 2 times")

    kept_flagged = await curate_run(
        run, spec.model_copy(update={"on_unjudged": "keep"}), judges=judges(broken)
    )
    assert kept_flagged.counts["accepted"] == 8
    record = read_jsonl(run / "curated" / "samples.jsonl")[0]
    assert record["metadata"]["curation"]["unjudged"] == ["judge"]

    healed = await curate_run(run, spec, judges=judges(ScriptedJudgeModel(judge_reply)))
    assert healed.curation["unjudged"] == 0 and healed.counts["accepted"] == 7


async def test_without_judges_or_embedder_the_skipped_blocks_are_noted(run: Path) -> None:
    result = await curate_run(run, CurateSpec())
    assert result.notes == [
        "semantic dedup skipped: no embedder given",
        "judge skipped: no judge model given",
        "faithfulness skipped: no judge model given",
    ]
    assert result.counts["accepted"] == 8


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda p: (p / "run.json").unlink(), "no run.json here"),
        (lambda p: (p / "samples.jsonl").unlink(), "samples.jsonl is missing"),
        (lambda p: (p / "rejects.jsonl").unlink(), "rejects.jsonl is missing"),
        (lambda p: (p / "spec.json").unlink(), "spec.json: run spec copy is missing"),
        (lambda p: (p / "run.json").write_text("{not json"), "unreadable run manifest"),
        (
            lambda p: (p / "samples.jsonl").write_text(
                (p / "samples.jsonl").read_text().splitlines()[0] + "\nnot json\n"
            ),
            "samples.jsonl:2: invalid JSON",
        ),
    ],
)
async def test_a_broken_run_folder_is_one_clear_error(run: Path, broken: Any, message: str) -> None:
    broken(run)
    with pytest.raises(RunDirError, match=message):
        await curate_run(run, CurateSpec())


async def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no such run folder"):
        await curate_run(tmp_path / "nope", CurateSpec())
