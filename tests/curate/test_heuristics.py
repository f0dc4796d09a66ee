"""Heuristic and language filters on hand-made samples that should pass and fail."""

from __future__ import annotations

import pytest

from synthloom.core.records import Reason
from synthloom.core.textstats import repeated_share
from synthloom.curate.config import HeuristicsSpec, LanguageSpec
from synthloom.curate.heuristics import (
    EmptyTurnFilter,
    LengthFilter,
    PhraseFilter,
    RepetitionFilter,
    RoleOrderFilter,
    heuristic_filters,
)
from synthloom.curate.language import LanguageFilter
from tests.curate.conftest import EXCHANGES, dialogue, sample

GOOD = sample(dialogue(*EXCHANGES["Understanding high blood pressure readings"][:2]))
SPEC = HeuristicsSpec()


def test_a_good_dialogue_passes_every_heuristic() -> None:
    for block in heuristic_filters(SPEC):
        assert block.check(GOOD) == (True, None), block.name


def test_empty_turn_is_rejected() -> None:
    broken = sample(dialogue(("What is HbA1c?", "   ")))
    keep, reason = EmptyTurnFilter().check(broken)
    assert not keep and reason == Reason("empty", "assistant turn 2 is empty")
    assert EmptyTurnFilter().check(sample([{"role": "system", "content": "x"}]))[0] is False


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["user", "user", "assistant"], "message 2 is 'user', expected assistant"),
        (["assistant", "user"], "message 1 is 'assistant', expected user"),
        (["user", "assistant", "user"], "ends without an assistant answer"),
        (["user", "system", "assistant"], "system message after the first"),
    ],
)
def test_broken_role_order_is_rejected(roles: list[str], expected: str) -> None:
    messages = [{"role": r, "content": f"turn {i} text"} for i, r in enumerate(roles)]
    keep, reason = RoleOrderFilter().check(sample(messages))  # type: ignore[arg-type]
    assert not keep and reason is not None and expected in f"{reason.code}: {reason.text}"


def test_length_bounds_per_turn_and_per_sample() -> None:
    spec = HeuristicsSpec(max_turn_chars=200, min_sample_words=12, max_sample_words=60)
    block = LengthFilter(spec)
    short = sample(dialogue(("Is 150/95 high?", "Yes, recheck it at rest soon.")))
    assert block.check(short) == (False, Reason("length", "sample has 10 words (min 12)"))
    long_turn = "word " * 60
    keep, reason = block.check(sample(dialogue(("Tell me more please now", long_turn))))
    assert not keep and reason == Reason("length", "assistant turn 2 has 299 chars (max 200)")
    pair = ("What should I do next then?", "Walk daily after dinner for twenty minutes.")
    keep, reason = block.check(sample(dialogue(*[pair] * 8)))
    assert not keep and reason is not None and "(max 60)" in reason.text
    assert LengthFilter(HeuristicsSpec(min_rounds=2)).check(GOOD) == (True, None)
    keep, reason = LengthFilter(HeuristicsSpec(min_rounds=3)).check(GOOD)
    assert reason == Reason("length", "2 assistant turns (min 3)")


def test_ngram_loops_are_rejected_but_normal_prose_is_not() -> None:
    loop = "Drink water and rest. " * 6 + "Then see your doctor if the fever stays high tomorrow."
    keep, reason = RepetitionFilter(SPEC).check(sample(dialogue(("What should I do?", loop))))
    assert (
        not keep
        and reason is not None
        and reason.code == "loop"
        and reason.text.startswith("assistant turn 2 loops")
    )
    prose = EXCHANGES["When a fever in a child needs a doctor"][0][1]
    assert repeated_share(prose.lower().split(), 4) == 0.0
    assert RepetitionFilter(SPEC).check(sample(dialogue(("Hm?", prose))))[0]


def test_a_turn_repeated_verbatim_is_rejected() -> None:
    pair = ("Should I worry?", "Measure again at rest on several days before deciding anything.")
    keep, reason = RepetitionFilter(SPEC).check(sample(dialogue(pair, ("And now?", pair[1]))))
    assert not keep and reason == Reason("repeat", "assistant turn 4 repeats turn 2")


@pytest.mark.parametrize(
    "answer",
    [
        "As an AI language model, I cannot give medical advice.",
        "I'm sorry, but I can't help with that request.",
        "I am unable to provide a diagnosis for your child.",
    ],
)
def test_refusals_and_ai_disclaimers_are_rejected(answer: str) -> None:
    keep, reason = PhraseFilter(SPEC).check(sample(dialogue(("My child has a fever.", answer))))
    assert not keep and reason is not None and reason.code == "refusal"
    assert reason.text.startswith("assistant turn 2 says")


def test_refusal_words_in_the_user_turn_or_in_advice_pass() -> None:
    fine = dialogue(
        ("As an AI, can you help me read my blood pressure?", "Yes: the top number is systolic.")
    )
    assert PhraseFilter(SPEC).check(sample(fine)) == (True, None)


def test_extra_phrases_and_turning_refusals_off() -> None:
    spec = HeuristicsSpec(refusals=False, extra_phrases=[r"\bI hope this helps\b"])
    block = PhraseFilter(spec)
    assert block.check(sample(dialogue(("q?", "As an AI model I think so."))))[0]
    keep, reason = block.check(sample(dialogue(("q?", "Walk daily. I hope this helps!"))))
    assert not keep and reason == Reason("refusal", "assistant turn 2 says 'I hope this helps'")


def test_language_filter_rejects_a_french_answer_in_an_english_dataset() -> None:
    block = LanguageFilter(LanguageSpec(expected=["en"]))
    assert block.check(GOOD) == (True, None)
    french = (
        "Il faut mesurer la tension plusieurs fois au repos avant de conclure, et prendre "
        "rendez-vous avec votre médecin si la moyenne reste élevée."
    )
    keep, reason = block.check(
        sample(dialogue(("My reading was 150 over 95, is that high?", french)))
    )
    assert not keep and reason is not None
    assert reason.code == "language" and reason.text.startswith("assistant turn 2 is 'fr'")
    assert "expected en" in reason.text


def test_language_filter_ignores_short_turns_and_accepts_listed_languages() -> None:
    block = LanguageFilter(LanguageSpec(expected=["en", "fr"]))
    french = "Il faut mesurer la tension plusieurs fois au repos avant de conclure sur un chiffre."
    assert block.check(sample(dialogue(("Bonjour", french)))) == (True, None)
    assert LanguageFilter(LanguageSpec()).check(
        sample(dialogue(("Merci!", "De rien, bonne journée.")))
    )[0]
