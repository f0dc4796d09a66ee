"""Wrong-language turns, found with py3langid (its model ships inside the wheel)."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from synthloom.curate.base import KEEP, SampleFilter, Verdict, reject
from synthloom.curate.config import LanguageSpec
from synthloom.curate.sample import Sample


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    # Normalised probabilities make `min_confidence` meaningful across text lengths.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    """ISO 639-1 code and probability of the text's language."""
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


def planned_language(sample: Sample) -> str | None:
    """The language the spec planned the sample in (its `language` condition), if any."""
    planned = sample.conditions.get("language")
    return str(planned).lower() if planned else None


class LanguageFilter(SampleFilter):
    """Each turn long enough to classify must be in the sample's planned language.

    A sample planned in a language (`language` in the spec) is held to it, turn by
    turn, so a dialogue that switches language midway is caught; a sample without
    one is held to `curate.language.expected`.
    """

    name: ClassVar[str] = "language"

    def __init__(self, spec: LanguageSpec) -> None:
        self.spec = spec
        self.expected = {code.lower() for code in spec.expected}

    def check(self, sample: Sample) -> Verdict:
        """Reject a turn confidently identified as another language."""
        planned = planned_language(sample)
        expected = {planned} if planned else self.expected
        for number, turn in enumerate(sample.turns, 1):
            text = str(turn.get("content") or "")
            if len(text.strip()) < self.spec.min_chars:
                continue
            lang, prob = identify(text)
            if lang not in expected and prob >= self.spec.min_confidence:
                wanted = (
                    f"planned {planned}" if planned else f"expected {'/'.join(sorted(expected))}"
                )
                return reject(
                    "language",
                    f"{turn.get('role')} turn {number} is {lang!r} (p={prob:.2f}), {wanted}",
                )
        return KEEP
