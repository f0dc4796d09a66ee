"""A curated run folder of the example spec, built by hand, for report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.judge import build_judges
from synthloom.core.records import Plan, Turn
from synthloom.curate.config import CurateSpec
from synthloom.curate.pipeline import Judges, curate_run
from tests.curate.conftest import build_run, dialogue, example_topics, small_spec
from tests.curate.fakes import ScriptedJudgeModel, claims_json, labels_json, rubric_json

SOURCES = ["A fever above five days needs review.", "Measure blood pressure at rest."]


def _turns(plan: Plan) -> list[Turn] | None:
    if plan.index == 4:
        return dialogue(("Help?", "As an AI language model I cannot help."), system=None)
    return None


def _meta(plan: Plan) -> dict[str, Any]:
    return {"sources": SOURCES} if plan.index % 3 == 0 else {}


def _reply(prompt: str, _: object) -> str:
    if "Rubric" in prompt:
        return rubric_json(2 if "question (5)." in prompt else 3 + len(prompt) % 3)
    if "Sources:" in prompt:
        if "question (3)." in prompt:
            return claims_json("supported", "unsupported", "unsupported")
        return claims_json("supported", "supported", "supported", "unsupported")
    # The labeler's answer: the leaf whose subtopic the dialogue's question names.
    topic = next((t for t in example_topics() if t in prompt), example_topics()[0])
    return labels_json(topic, "medium")


async def curated_run(path: Path, samples: int = 12) -> Path:
    """Generate (by hand) and curate a run of the example spec into `path`."""
    build_run(
        path,
        small_spec(samples=samples),
        turns_for=_turns,
        extra_meta=_meta,
        gen_rejects=[
            (samples - 1, "rejected", "user simulator gave malformed JSON", "malformed_output")
        ],
    )
    rubric, faithfulness, labeler = build_judges(ScriptedJudgeModel(_reply), max_reasks=1)
    judges = Judges(rubric=rubric, faithfulness=faithfulness, labelers={"judge": labeler})
    await curate_run(path, CurateSpec(labels={"enabled": True}), judges=judges)
    return path
