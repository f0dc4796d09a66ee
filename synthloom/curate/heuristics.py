"""Cheap per-sample heuristics: shape, length, loops and refusal phrases."""

from __future__ import annotations

import re
from typing import ClassVar

from graphs.patterns import patterns_of
from synthloom.core.textstats import find_loop, repeated_share, words_of
from synthloom.curate.base import KEEP, SampleFilter, Verdict, reject
from synthloom.curate.config import HeuristicsSpec
from synthloom.curate.sample import Sample

# Phrases that mark a refusal or an AI disclaimer: useless as assistant training data.
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bas an ai(?: language model| assistant| model)?\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?:'m| am) (?:just )?an ai\b",
    r"\bi(?:'m| am) (?:sorry,? (?:but )?)?(?:not able|unable) to (?:help|assist|provide|answer)",
    r"\bi (?:can(?:no|')t|cannot|won't) (?:help|assist) (?:you )?with (?:that|this)\b",
    r"\bi(?:'m| am) sorry,? but i (?:can(?:no|')t|cannot)\b",
    r"\bi do(?: not|n't) have (?:personal )?(?:opinions|feelings|access to real-time)\b",
    r"\bmy (?:knowledge )?cutoff\b",
)


class EmptyTurnFilter(SampleFilter):
    """A turn with no text is a broken sample."""

    name: ClassVar[str] = "empty_turns"

    def check(self, sample: Sample) -> Verdict:
        """Reject a sample with an empty or whitespace-only turn."""
        if not sample.turns:
            return reject("empty", "no dialogue turns")
        for number, turn in enumerate(sample.turns, 1):
            if not str(turn.get("content") or "").strip():
                return reject("empty", f"{turn.get('role')} turn {number} is empty")
        return KEEP


class RoleOrderFilter(SampleFilter):
    """system? then user/assistant alternating, starting with user, ending with assistant."""

    name: ClassVar[str] = "role_order"

    def check(self, sample: Sample) -> Verdict:
        """Reject broken role order."""
        roles = [str(m.get("role")) for m in sample.messages]
        if "system" in roles[1:]:
            return reject("role_order", "a system message after the first message")
        turns = [r for r in roles if r != "system"]
        for position, role in enumerate(turns):
            expected = "user" if position % 2 == 0 else "assistant"
            if role != expected:
                return reject(
                    "role_order", f"message {position + 1} is {role!r}, expected {expected}"
                )
        if turns and turns[-1] != "assistant":
            return reject("role_order", "the dialogue ends without an assistant answer")
        return KEEP


class LengthFilter(SampleFilter):
    """Length bounds per turn (characters) and per sample (words), and a minimum of rounds."""

    name: ClassVar[str] = "length"

    def __init__(self, spec: HeuristicsSpec) -> None:
        self.spec = spec

    def check(self, sample: Sample) -> Verdict:
        """Reject turns or samples outside the bounds."""
        spec = self.spec
        for number, turn in enumerate(sample.turns, 1):
            size = len(str(turn.get("content") or "").strip())
            if size < spec.min_turn_chars:
                return reject(
                    "length",
                    f"{turn.get('role')} turn {number} has {size} chars "
                    f"(min {spec.min_turn_chars})",
                )
            limit = spec.max_chars(str(turn.get("role")))
            if size > limit:
                return reject(
                    "length", f"{turn.get('role')} turn {number} has {size:,} chars (max {limit:,})"
                )
        words = len(words_of(sample.text("dialogue")))
        if words < spec.min_sample_words:
            return reject("length", f"sample has {words} words (min {spec.min_sample_words})")
        if words > spec.max_sample_words:
            return reject("length", f"sample has {words:,} words (max {spec.max_sample_words:,})")
        rounds = sum(1 for t in sample.turns if t.get("role") == "assistant")
        if rounds < spec.min_rounds:
            return reject("length", f"{rounds} assistant turns (min {spec.min_rounds})")
        return KEEP


class RepetitionFilter(SampleFilter):
    """Degenerate loops inside a turn, and a turn of one role said twice verbatim."""

    name: ClassVar[str] = "repetition"

    def __init__(self, spec: HeuristicsSpec) -> None:
        self.spec = spec

    def check(self, sample: Sample) -> Verdict:
        """Reject a sample that loops."""
        spec = self.spec
        seen: dict[str, int] = {}
        for number, turn in enumerate(sample.turns, 1):
            text = str(turn.get("content") or "")
            words = words_of(text)
            key = f"{turn.get('role')}:{' '.join(words)}"
            # "continue", "thanks", "yes" said twice are how people talk.
            if len(words) >= spec.repeat_min_words and key in seen:
                return reject(
                    "repeat", f"{turn.get('role')} turn {number} repeats turn {seen[key]}"
                )
            seen.setdefault(key, number)
            if spec.loops and (found := find_loop(text)) is not None:
                return reject(
                    "loop", f"{turn.get('role')} turn {number} loops ({found.describe()})"
                )
            if spec.max_repeated_share is None or len(words) < spec.repetition_min_words:
                continue
            share = repeated_share(words, spec.repetition_ngram)
            if share > spec.max_repeated_share:
                return reject(
                    "loop",
                    f"{turn.get('role')} turn {number} loops ({share:.0%} of words in "
                    f"repeated {spec.repetition_ngram}-grams)",
                )
        return KEEP


class PhraseFilter(SampleFilter):
    """Refusals, AI disclaimers and user-listed boilerplate in assistant turns."""

    name: ClassVar[str] = "phrases"

    def __init__(self, spec: HeuristicsSpec) -> None:
        # English here; other languages' refusals from their pattern files.
        refusals = (*REFUSAL_PATTERNS, *patterns_of("refusal")) if spec.refusals else ()
        patterns = [*refusals, *spec.extra_phrases]
        self.pattern = (
            re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
        )

    def check(self, sample: Sample) -> Verdict:
        """Reject an assistant turn with a listed phrase."""
        if self.pattern is None:
            return KEEP
        for number, turn in enumerate(sample.turns, 1):
            if turn.get("role") != "assistant":
                continue
            found = self.pattern.search(str(turn.get("content") or ""))
            if found:
                return reject("refusal", f"assistant turn {number} says {found.group(0)!r}")
        return KEEP


def heuristic_filters(spec: HeuristicsSpec) -> list[SampleFilter]:
    """The heuristic blocks in order, or none when turned off."""
    if not spec.enabled:
        return []
    return [
        EmptyTurnFilter(),
        RoleOrderFilter(),
        LengthFilter(spec),
        RepetitionFilter(spec),
        PhraseFilter(spec),
    ]
