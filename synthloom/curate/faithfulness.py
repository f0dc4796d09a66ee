"""Faithfulness: the assistant's claims checked against the sample's retrieved sources."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from agents.judge import FaithfulnessChecker, FaithfulnessVerdict
from synthloom.core.records import Reason
from synthloom.curate.cache import JudgementCache
from synthloom.curate.config import FaithfulnessSpec
from synthloom.curate.llm import LLMBlock, Outcome, prompt_fingerprint, unjudged
from synthloom.curate.sample import Sample

CLAIM_CHARS = 100


class FaithfulnessBlock(LLMBlock):
    """Rejects samples with too many unsupported or any contradicted claims."""

    name: ClassVar[str] = "faithfulness"
    reads: ClassVar[tuple[str, ...]] = ("messages", "metadata.sources")
    writes: ClassVar[tuple[str, ...]] = ("metadata.curation.faithfulness",)

    def __init__(
        self, spec: FaithfulnessSpec, checker: FaithfulnessChecker, cache: JudgementCache
    ) -> None:
        super().__init__(cache)
        self.spec = spec
        self.checker = checker
        self.prompt_id = prompt_fingerprint(checker.prompt, FaithfulnessVerdict)

    async def judge(self, sample: Sample) -> Outcome:
        """Check the claims (samples without sources are kept, marked unchecked)."""
        if not sample.sources:
            return Outcome(True, None, {"checked": False, "why": "no retrieved sources"})
        sources = [s.text for s in sample.sources]
        judged = await self.ask(
            sample,
            self.checker.name,
            self.prompt_id,
            lambda: self.checker.check(sample.messages, sources),
        )
        if judged.result is None:
            return replace(unjudged(judged.error), usage=judged.usage)
        verdict = FaithfulnessVerdict.model_validate(judged.result)
        total = len(verdict.claims)
        tally = {"supported": 0, "unsupported": 0, "contradicted": 0}
        for claim in verdict.claims:
            tally[claim.verdict] += 1
        bad = tally["unsupported"] + tally["contradicted"]
        share = bad / total if total else 0.0
        annotation = {
            "checked": True,
            "judge": self.checker.name,
            "claims": total,
            **tally,
            "unsupported_share": round(share, 4),
            "cached": judged.cached,
        }
        if tally["contradicted"] > self.spec.max_contradicted:
            first = next(c.claim for c in verdict.claims if c.verdict == "contradicted")
            reason = Reason(
                "unfaithful",
                f"{tally['contradicted']} claim(s) contradict the sources, "
                f"e.g. {first[:CLAIM_CHARS]!r}",
            )
            return Outcome(False, reason, annotation, judged.usage)
        if share > self.spec.max_unsupported:
            reason = Reason(
                "unfaithful",
                f"{bad} of {total} claims unsupported or contradicted "
                f"({share:.0%} > {self.spec.max_unsupported:.0%})",
            )
            return Outcome(False, reason, annotation, judged.usage)
        return Outcome(True, None, annotation, judged.usage)
