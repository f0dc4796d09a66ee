"""The `curate:` block of a run spec: which curation blocks run, and their thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from synthloom.core.config import StrictModel
from synthloom.core.modelspec import ModelSpec
from synthloom.core.textstats import LOOP_MIN_WORDS, LOOP_NGRAM, LOOP_SHARE

DedupText = Literal["dialogue", "user", "assistant", "first_user"]


class HeuristicsSpec(StrictModel):
    """Cheap per-sample checks: shape, length, loops, repeated turns and refusal phrases.

    Defaults measured on real conversations (ShareGPT holdout; README, "Quality gates"):
    length bounds that keep a pasted document, loops judged on prose (code, tables and
    verse masked) rather than on how often 4-grams recur.
    """

    enabled: bool = True
    min_turn_chars: int = Field(default=1, ge=1, description="Shorter turns are rejected.")
    max_turn_chars: int | None = Field(
        default=None, ge=1, description="One bound for both roles (overrides the two below)."
    )
    max_user_turn_chars: int = Field(default=50_000, ge=1, description="People paste documents.")
    max_assistant_turn_chars: int = Field(default=30_000, ge=1)
    min_sample_words: int = Field(default=12, ge=0, description="Words over all turns.")
    max_sample_words: int = Field(default=50_000, ge=1)
    min_rounds: int = Field(default=1, ge=1, description="Assistant turns a sample needs.")
    loops: bool = Field(
        default=True,
        description="Reject degenerate loops (one sentence or phrase over and over), as the "
        "dialogue's turn check does.",
    )
    repeat_min_words: int = Field(
        default=6, ge=1, description="A turn said twice verbatim is rejected from this length."
    )
    max_repeated_share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Also reject a turn with more than this share of its words inside repeated "
        f"word n-grams (the older Gopher-style test; {LOOP_SHARE} was its bound). Off by "
        "default: it rejects outlines, tables and parallel lists.",
    )
    repetition_ngram: int = Field(default=LOOP_NGRAM, ge=2, le=12)
    repetition_min_words: int = Field(
        default=LOOP_MIN_WORDS,
        ge=1,
        description="Turns shorter than this are not checked by `max_repeated_share`.",
    )
    refusals: bool = Field(default=True, description="Reject refusal and AI-disclaimer phrases.")
    extra_phrases: list[str] = Field(
        default_factory=list, description="More regular expressions (case-insensitive) to reject."
    )

    def max_chars(self, role: str) -> int:
        """The longest turn this role may write."""
        if self.max_turn_chars is not None:
            return self.max_turn_chars
        return self.max_user_turn_chars if role == "user" else self.max_assistant_turn_chars


class LanguageSpec(StrictModel):
    """Language identification per turn (py3langid; its model ships inside the wheel)."""

    enabled: bool = True
    expected: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    min_chars: int = Field(default=40, ge=1, description="Shorter turns are not classified.")
    min_confidence: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Reject only predictions at least this sure."
    )


class LeakageSpec(StrictModel):
    """Verbatim copying of in-context demos or retrieved chunks (word n-gram overlap)."""

    enabled: bool = True
    ngram: int = Field(default=8, ge=3, le=32)
    max_demo_overlap: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="Largest share of a demo's n-grams the sample may repeat verbatim.",
    )
    max_source_overlap: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Largest share of an assistant turn's n-grams copied from one source chunk.",
    )


class DedupSpec(StrictModel):
    """Exact, near (MinHash-LSH) and semantic (embedding) duplicate removal."""

    text: DedupText = Field(default="dialogue", description="What is compared.")
    exact: bool = True
    near: bool = True
    ngram: int = Field(default=3, ge=1, le=16, description="Word shingle size for MinHash.")
    threshold: float = Field(default=0.7, gt=0.0, lt=1.0, description="Jaccard similarity.")
    num_perm: int = Field(default=128, ge=16, le=1024)
    workers: int = Field(default=0, ge=0, description="Processes for MinHash; 0: all cores.")
    semantic: bool = Field(
        default=True, description="Embedding dedup (skipped, with a note, without an embedder)."
    )
    semantic_threshold: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Cosine; unset: the one measured for the run's embedder (0.95 for "
        "MiniLM, higher for multilingual-e5, whose texts all sit close together).",
    )


class JudgeSpec(StrictModel):
    """LLM-as-judge: a rubric scored by the `judge` model, with a threshold."""

    enabled: bool = True
    min_score: float = Field(default=3.0, ge=1.0, le=5.0, description="Lowest kept overall score.")


class FaithfulnessSpec(StrictModel):
    """Claims checked against the sample's retrieved sources by the judge model."""

    enabled: bool = True
    max_unsupported: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Largest share of claims that are unsupported or contradicted.",
    )
    max_contradicted: int = Field(default=0, ge=0, description="Contradicted claims allowed.")


class LabelsSpec(StrictModel):
    """Relabel and tag each sample; with two or more judges, measure their agreement."""

    enabled: bool = False
    judges: dict[str, ModelSpec] = Field(
        default_factory=dict,
        description="Named judge models; empty means the run's `models.judge` alone.",
    )
    on_disagreement: Literal["flag", "reject"] = "flag"
    on_topic_mismatch: Literal["flag", "reject"] = "flag"


class CurateSpec(StrictModel):
    """Curation after generation; every block can be turned off."""

    enabled: bool = True
    heuristics: HeuristicsSpec = HeuristicsSpec()
    language: LanguageSpec = LanguageSpec()
    leakage: LeakageSpec = LeakageSpec()
    dedup: DedupSpec = DedupSpec()
    judge: JudgeSpec = JudgeSpec()
    faithfulness: FaithfulnessSpec = FaithfulnessSpec()
    labels: LabelsSpec = LabelsSpec()
    on_unjudged: Literal["hold", "keep"] = Field(
        default="hold",
        description="A sample the judge could not score: hold it back (retried next run) "
        "or keep it flagged.",
    )
    concurrency: int = Field(default=8, ge=1, le=1024, description="Judge calls in flight.")
    max_reasks: int = Field(default=2, ge=0, le=10, description="Re-asks of invalid judge JSON.")
    prompt_dir: Path | None = Field(
        default=None, description="A folder overriding judge_rubric/faithfulness/labeler prompts."
    )

    @model_validator(mode="after")
    def _check(self) -> CurateSpec:
        shortest = min(self.heuristics.max_chars("user"), self.heuristics.max_chars("assistant"))
        if shortest < self.heuristics.min_turn_chars:
            raise ValueError("heuristics: the longest turn allowed is under min_turn_chars")
        if self.heuristics.max_sample_words < self.heuristics.min_sample_words:
            raise ValueError("heuristics.max_sample_words must be >= min_sample_words")
        return self

    @property
    def uses_llm(self) -> bool:
        """Whether any block calls a judge model."""
        return self.judge.enabled or self.faithfulness.enabled or self.labels.enabled

    def without_llm(self) -> CurateSpec:
        """The same settings with every LLM block turned off."""
        return self.model_copy(
            update={
                "judge": self.judge.model_copy(update={"enabled": False}),
                "faithfulness": self.faithfulness.model_copy(update={"enabled": False}),
                "labels": self.labels.model_copy(update={"enabled": False}),
            }
        )
