"""Leakage: a sample that copies its in-context demos or retrieved chunks verbatim."""

from __future__ import annotations

from typing import ClassVar

from synthloom.core.textstats import words_of
from synthloom.curate.base import KEEP, SampleFilter, Verdict, reject
from synthloom.curate.config import LeakageSpec
from synthloom.curate.sample import Sample


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of lowercased text (the whole text as one gram when shorter)."""
    words = words_of(text)
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def containment(part: set[tuple[str, ...]], whole: set[tuple[str, ...]]) -> float:
    """Share of `part`'s n-grams found in `whole`."""
    return len(part & whole) / len(part) if part else 0.0


class LeakageFilter(SampleFilter):
    """Flags demos reproduced in the sample and assistant turns pasted from a source.

    A demo leaks when much of it reappears in the sample (the model copied the
    example instead of following it). A source leaks when an assistant turn is
    mostly one chunk pasted verbatim rather than an answer grounded in it.
    """

    name: ClassVar[str] = "leakage"
    reads: ClassVar[tuple[str, ...]] = ("messages", "metadata.demos", "metadata.sources")

    def __init__(self, spec: LeakageSpec) -> None:
        self.spec = spec

    def check(self, sample: Sample) -> Verdict:
        """Reject a sample that copies a demo or pastes a source."""
        n = self.spec.ngram
        if sample.demos:
            mine = ngrams(sample.text("dialogue"), n)
            for demo in sample.demos:
                share = containment(ngrams(demo.text, n), mine)
                if share > self.spec.max_demo_overlap:
                    return reject(
                        "leakage", f"copies demo {demo.id} ({share:.0%} of its {n}-grams verbatim)"
                    )
        if sample.sources:
            source_grams = [(s.id, ngrams(s.text, n)) for s in sample.sources]
            for number, turn in enumerate(sample.turns, 1):
                if turn.get("role") != "assistant":
                    continue
                grams = ngrams(str(turn.get("content") or ""), n)
                if len(grams) < 2:
                    continue
                for source_id, whole in source_grams:
                    share = containment(grams, whole)
                    if share > self.spec.max_source_overlap:
                        return reject(
                            "leakage",
                            f"assistant turn {number} pastes source {source_id} "
                            f"({share:.0%} of its {n}-grams verbatim)",
                        )
        return KEEP
