"""Per-turn checks catch what they name and pass ordinary turns."""

from __future__ import annotations

import pytest

from graphs.checks import first_problem, strip_speaker_label, trim_to_sentence
from synthloom.records import Role, Turn


def turn(role: Role, content: str) -> Turn:
    return {"role": role, "content": content}


HISTORY = [turn("user", "My blood pressure was 150 over 95."), turn("assistant", "That is high.")]


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (turn("user", "  "), "empty user turn"),
        (turn("assistant", "?!"), "empty assistant turn"),
        (turn("user", "As an AI, I can explain blood pressure."), "role flip"),
        (turn("user", "Certainly! Blood pressure is the force of blood."), "role flip"),
        (turn("user", "How can I help you today?"), "role flip"),
        (turn("user", "Hello, I'm here to support you with your health."), "role flip"),
        (turn("assistant", "Sure.\nUser: thanks a lot"), "role flip"),
        (turn("user", "<the person's next message>"), "placeholder"),
        (turn("user", "Hi, I'm [Your Name] and I have a question."), "placeholder"),
        (turn("user", "Dear [name], it's [address] and I need a doctor."), "placeholder"),
        (turn("user", "my blood pressure was 150 over 95"), "repeated turn"),
        (turn("user", "My blood pressure was 150 over 96."), "repeated turn"),
    ],
)
def test_bad_turns_are_caught(candidate: Turn, reason: str) -> None:
    problem = first_problem(candidate, HISTORY)
    assert problem is not None and problem.startswith(reason)


@pytest.mark.parametrize(
    "candidate",
    [
        turn("user", "Should I be worried about a reading of 150 over 95?"),
        turn("user", "Can you help me understand what that means for my medication?"),
        turn("assistant", "A reading of 150/95 is stage 2 hypertension; see your doctor."),
    ],
)
def test_ordinary_turns_pass(candidate: Turn) -> None:
    assert first_problem(candidate, HISTORY) is None


def test_truncation_is_a_problem_only_when_flagged() -> None:
    ok = turn("assistant", "Fine answer.")
    assert first_problem(ok, [], truncated=False) is None
    assert "max_tokens" in (first_problem(ok, [], truncated=True) or "")


def test_trim_and_label_helpers() -> None:
    assert trim_to_sentence("One. Two! Three is cut") == "One. Two!"
    assert trim_to_sentence('He said "stop." Then') == 'He said "stop."'
    assert trim_to_sentence("no sentence end") == ""
    assert strip_speaker_label("PERSON: is 150 high?") == "is 150 high?"
    assert strip_speaker_label("Personally, I think") == "Personally, I think"
