"""LLM-as-judge: the rubric in `judge_rubric.jinja2`, scored by the judge model."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from agents.judge import RubricJudge, RubricVerdict
from synthloom.core.records import Reason
from synthloom.curate.cache import JudgementCache
from synthloom.curate.config import JudgeSpec
from synthloom.curate.llm import LLMBlock, Outcome, prompt_fingerprint, unjudged
from synthloom.curate.sample import Sample

RATIONALE_CHARS = 160


class RubricBlock(LLMBlock):
    """Keeps samples whose overall rubric score reaches `min_score`."""

    name: ClassVar[str] = "judge"
    reads: ClassVar[tuple[str, ...]] = ("messages", "metadata.topic", "metadata.conditions")
    writes: ClassVar[tuple[str, ...]] = ("metadata.curation.judge",)

    def __init__(self, spec: JudgeSpec, judge: RubricJudge, cache: JudgementCache) -> None:
        super().__init__(cache)
        self.spec = spec
        self.judge_role = judge
        self.prompt_id = prompt_fingerprint(judge.prompt, RubricVerdict)

    async def judge(self, sample: Sample) -> Outcome:
        """Score the sample and apply the threshold."""
        judged = await self.ask(
            sample,
            self.judge_role.name,
            self.prompt_id,
            lambda: self.judge_role.score(
                sample.messages, topic=sample.topic, conditions=sample.conditions
            ),
        )
        if judged.result is None:
            return replace(unjudged(judged.error), usage=judged.usage)
        verdict = RubricVerdict.model_validate(judged.result)
        annotation = {
            "judge": self.judge_role.name,
            "overall": verdict.overall,
            "criteria": {c.criterion: c.score for c in verdict.criteria},
            "rationale": verdict.rationale,
            "cached": judged.cached,
        }
        if verdict.overall >= self.spec.min_score:
            return Outcome(True, None, annotation, judged.usage)
        rationale = verdict.rationale.strip().replace("\n", " ")
        if len(rationale) > RATIONALE_CHARS:
            rationale = rationale[: RATIONALE_CHARS - 1] + "…"
        reason = Reason(
            "low_score",
            f"overall {verdict.overall} < {self.spec.min_score:g} ({rationale or 'no rationale'})",
        )
        return Outcome(False, reason, annotation, judged.usage)
