"""Label enhancement: topic, difficulty and quality per sample, from one or more judges.

With two or more judges the block reports Cohen's kappa per label and per pair
of judges, and flags (or rejects) the samples they disagree on. The final label
is the majority vote; ties go to the first judge listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from itertools import combinations
from typing import Any, ClassVar

from agents.judge import Labeler, SampleLabels
from synthloom.core.records import Reason, Usage
from synthloom.curate.agreement import cohen_kappa
from synthloom.curate.cache import JudgementCache
from synthloom.curate.config import LabelsSpec
from synthloom.curate.llm import LLMBlock, Outcome, prompt_fingerprint, unjudged
from synthloom.curate.sample import Sample

FIELDS = ("topic", "difficulty", "quality")


def _vote(values: Sequence[str]) -> str:
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


class LabelBlock(LLMBlock):
    """Relabels and tags samples; measures judge agreement."""

    name: ClassVar[str] = "labels"
    reads: ClassVar[tuple[str, ...]] = ("messages", "metadata.topic")
    writes: ClassVar[tuple[str, ...]] = ("metadata.curation.labels",)

    def __init__(
        self,
        spec: LabelsSpec,
        labelers: dict[str, Labeler],
        topics: Sequence[str],
        cache: JudgementCache,
    ) -> None:
        super().__init__(cache)
        if not labelers:
            raise ValueError("the labels block needs at least one labeler")
        self.spec = spec
        self.labelers = labelers
        self.topics = list(topics)
        self.prompt_ids = {
            name: prompt_fingerprint(labeler.prompt, SampleLabels)
            for name, labeler in labelers.items()
        }
        self._labelled: list[dict[str, dict[str, str]]] = []

    async def judge(self, sample: Sample) -> Outcome:
        """Label the sample with every judge and combine their answers."""
        by_judge: dict[str, dict[str, Any]] = {}
        usage = Usage()
        errors: list[str] = []
        for name, labeler in self.labelers.items():
            judged = await self.ask(
                sample,
                name,
                self.prompt_ids[name],
                partial(labeler.label, sample.messages, topics=self.topics),
                model=labeler.name,
            )
            usage += judged.usage
            if judged.result is None:
                errors.append(f"{name}: {judged.error}")
            else:
                by_judge[name] = judged.result
        if errors:
            return replace(unjudged("labels: " + "; ".join(errors)), usage=usage)
        self._labelled.append({n: {f: str(r[f]) for f in FIELDS} for n, r in by_judge.items()})
        return self._decide(sample, by_judge, usage)

    def _decide(self, sample: Sample, by_judge: dict[str, dict[str, Any]], usage: Usage) -> Outcome:
        first = next(iter(by_judge.values()))
        final = {f: _vote([str(r[f]) for r in by_judge.values()]) for f in FIELDS}
        disagreement = [f for f in FIELDS if len({str(r[f]) for r in by_judge.values()}) > 1]
        annotation: dict[str, Any] = {
            **final,
            "tags": list(first.get("tags") or []),
            "planned_topic": sample.topic,
            "topic_matches_plan": final["topic"] == sample.topic,
            "disagreement": disagreement,
        }
        if len(by_judge) > 1:
            annotation["by_judge"] = {
                n: {f: str(r[f]) for f in FIELDS} for n, r in by_judge.items()
            }
        flags: list[str] = []
        reasons: list[Reason] = []
        if disagreement:
            detail = ", ".join(
                f"{f} ({'/'.join(str(r[f]) for r in by_judge.values())})" for f in disagreement
            )
            found = Reason("label_disagreement", detail)
            if self.spec.on_disagreement == "reject":
                reasons.append(found)
            else:
                flags.append(f"{found.code}: {found.text}")
        if not annotation["topic_matches_plan"]:
            found = Reason("off_topic", f"labelled {final['topic']!r}, planned {sample.topic!r}")
            if self.spec.on_topic_mismatch == "reject":
                reasons.append(found)
            else:
                flags.append(f"{found.code}: {found.text}")
        if reasons:
            lead, *more = reasons
            text = "; ".join([lead.text, *(f"{r.code}: {r.text}" for r in more)])
            return Outcome(False, Reason(lead.code, text), annotation, usage, flags)
        return Outcome(True, None, annotation, usage, flags)

    def summary(self) -> dict[str, Any] | None:
        """Cohen's kappa per label and judge pair, over the samples all judges labelled."""
        names = list(self.labelers)
        result: dict[str, Any] = {"judges": names, "samples": len(self._labelled), "kappa": {}}
        for a, b in combinations(names, 2):
            pair: dict[str, float | None] = {}
            for f in FIELDS:
                left = [row[a][f] for row in self._labelled]
                right = [row[b][f] for row in self._labelled]
                kappa = cohen_kappa(left, right)
                pair[f] = None if kappa is None else round(kappa, 4)
            result["kappa"][f"{a} vs {b}"] = pair
        return result
