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
        (turn("user", "Hello, I'm your AI assistant. I'm here to help."), "role flip"),
        (turn("user", "Sorry about that. As a medical professional, I can say"), "role flip"),
        (
            turn("user", "Hi. I'm here to help you. How can I assist?"),
            "role flip",
        ),
        (turn("user", "Hello there. I am a medical professional in pediatrics."), "role flip"),
        (turn("user", "<the person's next message>"), "placeholder"),
        (turn("user", "Your message was rejected. Please try again later."), "prompt text"),
        (turn("user", "The conversation so far: I'm Sarah and I'm worried."), "prompt text"),
        (
            turn("user", "Hi. I am a healthcare AI assistant. What is hypertension?"),
            "role flip",
        ),
        (turn("user", "Hi, I'm [Your Name] and I have a question."), "placeholder"),
        (turn("user", "[Your question] has nothing to hide"), "placeholder"),
        (turn("user", "{person} Your update says you have diabetes."), "placeholder"),
        (turn("user", "Hi, I am {{ name }}."), "placeholder"),
        (turn("user", "{[user_name]}, I'm so sorry for your family."), "placeholder"),
        (turn("user", "[PERSON] You can't measure high blood pressure."), "placeholder"),
        (turn("user", "]Hello [yourname]! I'm glad you're here."), "placeholder"),
        (turn("user", "<h1>Hello! Welcome to my home</h1>"), "markup"),
        (turn("user", "Hi there!<br> My son has a fever."), "markup"),
        (turn("user", "My mother takes [insert drug here] daily."), "placeholder"),
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
        turn("user", "I'm a nurse, and my doctor's assistant said to recheck it in a week."),
        turn("user", "I'm a professional cyclist; is 150 over 95 after a race a worry?"),
        turn("user", "Is a reading of <120 over <80 normal for my dad, who is 80?"),
        turn("assistant", "A reading of 150/95 is stage 2 hypertension; see your doctor."),
        turn("assistant", 'Log it as {"systolic": 150} or print(f"{reading}") in code.'),
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


def test_an_echo_of_the_other_role_with_a_sentence_added_is_a_repeat() -> None:
    answer = (
        "Diabetes is a metabolic disorder that involves the body's inability to process "
        "glucose, the main source of energy. It can be caused by a combination of genetic "
        "and environmental factors, and it is managed with diet, activity and medicine."
    )
    history: list[Turn] = [
        {"role": "user", "content": "What is diabetes, exactly?"},
        {"role": "assistant", "content": answer},
    ]
    echo: Turn = {"role": "user", "content": answer[:170] + " So what about type 2?"}
    problem = first_problem(echo, history)
    assert problem is not None and "copies most of an earlier assistant turn" in problem
    # Quoting a short phrase of the answer is how people ask follow-ups: not a copy.
    follow_up: Turn = {
        "role": "user",
        "content": "You said it is managed with diet, activity and medicine. Which diet helps "
        "my father most, and how much walking should he do each day at his age?",
    }
    assert first_problem(follow_up, history) is None


def test_an_echo_with_words_changed_here_and_there_is_still_a_copy() -> None:
    # Seen from SmolLM2: the user simulator re-types the assistant's turn with small edits.
    answer = (
        "Hello, it seems like you've just introduced yourself to me. I'm glad you found my "
        "help. I'm here to provide you with any information you may need, whether it's about "
        "your child's health or any concerns you may have."
    )
    history: list[Turn] = [
        {"role": "user", "content": "My son has had a fever since last night."},
        {"role": "assistant", "content": answer},
    ]
    edited = (
        "Hello there, it seems like you just introduced yourself to me. I'm so glad you found "
        "my help. I'm here to give you any information you may need, whether it's about your "
        "child's health or concerns you might have."
    )
    problem = first_problem({"role": "user", "content": edited}, history)
    assert problem is not None and "copies most of an earlier assistant turn" in problem


# Seen from SmolLM2-135M in the example run: turns that passed the older checks.
FIRST_ANSWER = (
    "Hey Sarah, I hope you're well. High blood pressure is a serious issue, affecting "
    "millions of people around the world. But there's also a lot you can do to manage it, "
    "and it's a bit overwhelming at first, but I'm here to help."
)


def test_a_long_verbatim_passage_of_an_earlier_turn_is_an_echo() -> None:
    history: list[Turn] = [
        {"role": "user", "content": "Hello! I'm Sarah. How do I manage high blood pressure?"},
        {"role": "assistant", "content": FIRST_ANSWER},
    ]
    # The user opens by re-typing the answer's core sentence, then says something new:
    # under the "most of" share, but a 20-word verbatim run.
    echo = (
        "Thanks. So high blood pressure is a serious issue, affecting millions of people "
        "around the world. But there's also a lot you can do to manage it. My own readings "
        "were 150 over 95 twice last week at the pharmacy, after I had walked there quickly "
        "in the heat, and my doctor wants to see me again next month about it."
    )
    problem = first_problem({"role": "user", "content": echo}, history)
    assert problem is not None and "a long passage of an earlier assistant turn" in problem
    # Quoting a phrase back is a follow-up, not an echo.
    quote = (
        "You said there's a lot I can do to manage it. What should I change first, the salt "
        "or the walking, and how soon would my readings come down if I did both?"
    )
    assert first_problem({"role": "user", "content": quote}, history) is None


def test_a_turn_that_loops_is_caught_and_prose_is_not() -> None:
    looping = (
        "High blood pressure can be caused by a combination of factors, but it's often "
        "caused by a combination of factors. And there's a way to manage it. And it's "
        "often caused by a combination of factors. And there's a way to manage it, and "
        "it's often caused by a combination of factors."
    )
    problem = first_problem({"role": "assistant", "content": looping}, HISTORY)
    assert problem is not None and problem.startswith("looping assistant turn")
    prose = (
        "A reading of 150 over 95 is in the stage 2 range. One reading is not a diagnosis: "
        "measure at home, seated and rested, twice a day for a week, and bring the log to "
        "your doctor. Less salt, regular walking and limiting alcohol all lower it; if you "
        "ever see 180 over 120 with chest pain or headache, seek care at once."
    )
    assert first_problem({"role": "assistant", "content": prose}, HISTORY) is None


@pytest.mark.parametrize(
    ("content", "flip"),
    [
        ("Thanks for asking. I'm here to help.", True),
        ("I'm here to help!", True),
        ("I'm here to help my mother understand her readings.", False),
    ],
)
def test_here_to_help_as_a_sign_off_is_a_role_flip(content: str, flip: bool) -> None:
    problem = first_problem({"role": "user", "content": content}, HISTORY)
    assert (problem is not None and problem.startswith("role flip")) is flip
