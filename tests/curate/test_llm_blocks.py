"""The LLM blocks: thresholds, the judgement cache, faithfulness shares, label agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.judge import build_judges
from synthloom.core.records import Reason
from synthloom.curate.agreement import cohen_kappa
from synthloom.curate.cache import JudgementCache
from synthloom.curate.config import FaithfulnessSpec, JudgeSpec, LabelsSpec
from synthloom.curate.faithfulness import FaithfulnessBlock
from synthloom.curate.labels import LabelBlock
from synthloom.curate.rubric import RubricBlock
from synthloom.curate.sample import Sample
from tests.curate.conftest import EXCHANGES, dialogue, sample
from tests.curate.fakes import ScriptedJudgeModel, claims_json, labels_json, rubric_json

TOPIC = "Understanding high blood pressure readings"
TOPICS = [TOPIC, "Managing type 2 diabetes after diagnosis"]


def pressure_sample(sid: str = "s1", **meta: Any) -> Sample:
    return sample(dialogue(*EXCHANGES[TOPIC][:2]), sid, topic=TOPIC, **meta)


def cache(tmp_path: Path) -> JudgementCache:
    return JudgementCache(tmp_path / "judgements.jsonl")


async def test_rubric_threshold_keeps_and_rejects_with_the_rationale(tmp_path: Path) -> None:
    scores = {"good": 4, "bad": 2}
    model = ScriptedJudgeModel(
        lambda prompt, _: rubric_json(
            scores["bad" if "bad-marker" in prompt else "good"],
            "Vague answers that skip the question.",
        )
    )
    block = RubricBlock(JudgeSpec(min_score=3), build_judges(model)[0], cache(tmp_path))
    good = await block.judge(pressure_sample("good"))
    assert good.keep is True and good.annotation is not None and good.annotation["overall"] == 4
    bad_sample = sample(dialogue(("bad-marker question?", "Some answer.")), "bad", topic=TOPIC)
    bad = await block.judge(bad_sample)
    assert bad.keep is False
    assert bad.reason == Reason(
        "low_score", "overall 2 < 3 (Vague answers that skip the question.)"
    )


async def test_cached_judgements_are_reused_across_runs(tmp_path: Path) -> None:
    model = ScriptedJudgeModel(lambda prompt, _: rubric_json(5))
    first = RubricBlock(JudgeSpec(), build_judges(model)[0], cache(tmp_path))
    await first.judge(pressure_sample())
    first.cache.close()
    again = RubricBlock(JudgeSpec(min_score=5), build_judges(model)[0], cache(tmp_path))
    outcome = await again.judge(pressure_sample())
    assert model.calls == 1
    assert outcome.keep is True and outcome.annotation and outcome.annotation["cached"] is True
    assert outcome.usage.calls == 0
    # Other content under the same id is judged again.
    changed = sample(dialogue(("Different?", "Yes, different.")), "s1", topic=TOPIC)
    await again.judge(changed)
    assert model.calls == 2


async def test_unjudged_outcome_is_not_cached(tmp_path: Path) -> None:
    model = ScriptedJudgeModel(lambda prompt, _: "not json")
    block = RubricBlock(JudgeSpec(), build_judges(model, max_reasks=1)[0], cache(tmp_path))
    outcome = await block.judge(pressure_sample())
    assert outcome.keep is None and outcome.reason is not None
    assert outcome.reason.code == "unjudged"
    assert outcome.reason.text.startswith("rubric judge gave malformed JSON 2 times")
    assert outcome.usage.calls == 2 and len(block.cache) == 0


@pytest.mark.parametrize(
    ("verdicts", "keep", "reason"),
    [
        (("supported", "supported", "supported", "unsupported"), True, None),
        (
            ("supported", "unsupported", "unsupported"),
            False,
            Reason("unfaithful", "2 of 3 claims unsupported or contradicted (67% > 25%)"),
        ),
        (
            ("supported", "supported", "supported", "supported", "contradicted"),
            False,
            Reason("unfaithful", "1 claim(s) contradict the sources, e.g. 'claim 4'"),
        ),
        ((), True, None),
    ],
)
async def test_faithfulness_threshold_on_the_unsupported_share(
    tmp_path: Path, verdicts: tuple[str, ...], keep: bool, reason: Reason | None
) -> None:
    model = ScriptedJudgeModel(lambda prompt, _: claims_json(*verdicts))
    block = FaithfulnessBlock(FaithfulnessSpec(), build_judges(model)[1], cache(tmp_path))
    outcome = await block.judge(pressure_sample(sources=["A reading above 140/90 is high."]))
    assert (outcome.keep, outcome.reason) == (keep, reason)
    assert outcome.annotation is not None and outcome.annotation["claims"] == len(verdicts)


async def test_samples_without_sources_are_kept_unchecked(tmp_path: Path) -> None:
    model = ScriptedJudgeModel(lambda prompt, _: claims_json("contradicted"))
    block = FaithfulnessBlock(FaithfulnessSpec(), build_judges(model)[1], cache(tmp_path))
    outcome = await block.judge(pressure_sample())
    assert outcome.keep is True and outcome.annotation == {
        "checked": False,
        "why": "no retrieved sources",
    }
    assert model.calls == 0


def test_cohen_kappa_matches_the_textbook_values() -> None:
    first = ["yes", "yes", "no", "no", "yes"]
    second = ["yes", "no", "no", "no", "yes"]
    assert cohen_kappa(first, second) == pytest.approx((0.8 - 0.48) / 0.52)
    assert cohen_kappa(first, first) == pytest.approx(1.0)
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    assert cohen_kappa([], []) is None


async def test_two_label_judges_report_kappa_and_flag_disagreements(tmp_path: Path) -> None:
    def judge_a(prompt: str, _: object) -> str:
        return labels_json(TOPIC, "easy" if "s-easy" in prompt else "hard")

    def judge_b(prompt: str, _: object) -> str:
        return labels_json(TOPIC, "easy" if "s-easy" in prompt or "s-agree" in prompt else "medium")

    labelers = {
        "a": build_judges(ScriptedJudgeModel(judge_a, name="model-a"))[2],
        "b": build_judges(ScriptedJudgeModel(judge_b, name="model-b"))[2],
    }
    block = LabelBlock(LabelsSpec(enabled=True), labelers, TOPICS, cache(tmp_path))
    outcomes = {}
    for sid in ("s-easy", "s-agree", "s-hard"):
        record = sample(dialogue((f"{sid}: my pressure?", "Measure again.")), sid, topic=TOPIC)
        outcomes[sid] = await block.judge(record)
    assert outcomes["s-easy"].keep is True and outcomes["s-easy"].flags == []
    flagged = outcomes["s-hard"]
    assert flagged.keep is True
    assert flagged.flags == ["label_disagreement: difficulty (hard/medium)"]
    assert flagged.annotation is not None and flagged.annotation["difficulty"] == "hard"
    summary = block.summary()
    assert summary is not None and summary["samples"] == 3
    kappa = summary["kappa"]["a vs b"]
    assert kappa["topic"] == 1.0
    assert kappa["difficulty"] == pytest.approx(
        round(cohen_kappa(["easy", "hard", "hard"], ["easy", "easy", "medium"]) or 0, 4)
    )


async def test_disagreement_and_off_topic_can_reject(tmp_path: Path) -> None:
    labelers = {
        "a": build_judges(ScriptedJudgeModel(lambda p, _: labels_json("other", "easy")))[2],
        "b": build_judges(ScriptedJudgeModel(lambda p, _: labels_json("other", "hard")))[2],
    }
    spec = LabelsSpec(enabled=True, on_disagreement="reject", on_topic_mismatch="reject")
    outcome = await LabelBlock(spec, labelers, TOPICS, cache(tmp_path)).judge(pressure_sample())
    assert outcome.keep is False
    assert outcome.reason == Reason(
        "label_disagreement",
        f"difficulty (easy/hard); off_topic: labelled 'other', planned '{TOPIC}'",
    )
