"""Per-turn checks catch what they name and pass ordinary turns."""

from __future__ import annotations

import pytest

from graphs.checks import first_problem, strip_speaker_label, trim_to_sentence
from synthloom.core.records import Role, Turn


def turn(role: Role, content: str) -> Turn:
    return {"role": role, "content": content}


HISTORY = [turn("user", "My blood pressure was 150 over 95."), turn("assistant", "That is high.")]


@pytest.mark.parametrize(
    ("candidate", "code"),
    [
        (turn("user", "  "), "empty"),
        (turn("assistant", "?!"), "empty"),
        (turn("user", "As an AI, I can explain blood pressure."), "role_flip"),
        (turn("user", "Certainly! Blood pressure is the force of blood."), "role_flip"),
        (turn("user", "How can I help you today?"), "role_flip"),
        (turn("user", "Hello, I'm here to support you with your health."), "role_flip"),
        (turn("assistant", "Sure.\nUser: thanks a lot"), "role_flip"),
        (turn("user", "Hello, I'm your AI assistant. I'm here to help."), "role_flip"),
        (turn("user", "Sorry about that. As a medical professional, I can say"), "role_flip"),
        (
            turn("user", "Hi. I'm here to help you. How can I assist?"),
            "role_flip",
        ),
        (turn("user", "Hello there. I am a medical professional in pediatrics."), "role_flip"),
        (turn("user", "<the person's next message>"), "placeholder"),
        (turn("user", "Your message was rejected. Please try again later."), "prompt_leak"),
        (turn("user", "The conversation so far: I'm Sarah and I'm worried."), "prompt_leak"),
        (
            turn("user", "Hi. I am a healthcare AI assistant. What is hypertension?"),
            "role_flip",
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
        (turn("user", "my blood pressure was 150 over 95"), "repeat"),
    ],
)
def test_bad_turns_are_caught(candidate: Turn, code: str) -> None:
    problem = first_problem(candidate, HISTORY)
    assert problem is not None and problem.code == code


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
        # One number changed is a new reading, not a repeat.
        turn("user", "My blood pressure was 150 over 96."),
    ],
)
def test_ordinary_turns_pass(candidate: Turn) -> None:
    assert first_problem(candidate, HISTORY) is None


def test_truncation_is_a_problem_only_when_flagged() -> None:
    ok = turn("assistant", "Fine answer.")
    assert first_problem(ok, [], truncated=False) is None
    problem = first_problem(ok, [], truncated=True)
    assert problem is not None and problem.code == "truncated" and "max_tokens" in problem.text


def test_trim_and_label_helpers() -> None:
    assert trim_to_sentence("One. Two! Three is cut") == "One. Two!"
    assert trim_to_sentence('He said "stop." Then') == 'He said "stop."'
    assert trim_to_sentence("no sentence end") == ""
    assert strip_speaker_label("PERSON: is 150 high?") == "is 150 high?"
    assert strip_speaker_label("Personally, I think") == "Personally, I think"


ANSWER = (
    "Diabetes is a metabolic disorder that involves the body's inability to process "
    "glucose, the main source of energy. It can be caused by a combination of genetic "
    "and environmental factors, and it is managed with diet, activity and medicine."
)
ANSWERED: list[Turn] = [
    {"role": "user", "content": "What is diabetes, exactly?"},
    {"role": "assistant", "content": ANSWER},
]


def test_the_whole_answer_echoed_back_is_an_echo() -> None:
    problem = first_problem({"role": "user", "content": "Okay. " + ANSWER}, ANSWERED)
    assert problem is not None and problem.code == "echo"


def test_quoting_part_of_the_answer_with_a_question_is_a_follow_up() -> None:
    # People quote back what they ask about (ShareGPT users paste answers to revise
    # them): a partial copy that comes with a question is not an echo.
    partial: Turn = {"role": "user", "content": ANSWER[:170] + " So what about type 2?"}
    assert first_problem(partial, ANSWERED) is None
    follow_up: Turn = {
        "role": "user",
        "content": "You said it is managed with diet, activity and medicine. Which diet helps "
        "my father most, and how much walking should he do each day at his age?",
    }
    assert first_problem(follow_up, ANSWERED) is None


def test_pasting_the_answer_back_with_an_instruction_is_a_request() -> None:
    paste: Turn = {"role": "user", "content": "Make this shorter, please: " + ANSWER}
    assert first_problem(paste, ANSWERED) is None


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
    assert problem is not None and problem.code in ("echo", "role_flip")


def test_a_parallel_follow_up_is_not_a_repeat() -> None:
    # "Summarize X's book ... for a growth agency", then the same for Y's course: real
    # people ask parallel questions, and the answers share their frame.
    first = "Summarize the main ideas of Atomic Habits for the team of a growth agency."
    second = "Summarize the main ideas of Deep Work for the team of a growth agency."
    history: list[Turn] = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "Atomic Habits argues that small changes compound."},
    ]
    assert first_problem({"role": "user", "content": second}, history) is None
    assert first_problem({"role": "user", "content": first}, history) is not None


def test_a_turn_that_loops_is_caught_and_prose_is_not() -> None:
    looping = (
        "High blood pressure can be caused by a combination of factors, but it's often "
        "caused by a combination of factors. And there's a way to manage it. And it's "
        "often caused by a combination of factors. And there's a way to manage it, and "
        "it's often caused by a combination of factors."
    )
    problem = first_problem({"role": "assistant", "content": looping}, HISTORY)
    assert problem is not None and problem.code == "loop"
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
    assert (problem is not None and problem.code == "role_flip") is flip


@pytest.mark.parametrize(
    ("content", "leak"),
    [
        ("Sure, here it is.<|im_end|>\n<|im_start|>user\nthanks", True),
        ("[INST] tell me more about the dosage [/INST]", True),
        ("### Response:\nTake it with food.", True),
        ("In ChatML the turn ends with `<|im_end|>`, written as a special token.", False),
    ],
)
def test_chat_template_control_text_is_a_prompt_leak(content: str, leak: bool) -> None:
    problem = first_problem({"role": "assistant", "content": content}, HISTORY)
    assert (problem is not None and problem.code == "prompt_leak") is leak
