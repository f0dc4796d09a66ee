"""Plant labelled failures into real conversations, several styles of each kind.

Each generator takes a real conversation and a random source and returns the
conversation up to and including one corrupted turn, with that turn's label. The
styles vary on purpose (what weak models do, and cruder edits), so a check is not
fitted to one way of failing. Used by `benchmarks/data/make_failures.py` (the shipped
labelled set) and by the integration tests that replay planted failures.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from synthloom.core.voice import judged

Message = dict[str, str]
Corruption = Callable[[list[Message], int, random.Random, Sequence[list[Message]]], str | None]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")

ASSISTANT_OPENERS = (
    "Certainly! ",
    "Sure! Here's an overview: ",
    "Great question! ",
    "Of course. Here is what you need to know. ",
    "As an AI language model, I can explain this. ",
    "I'd be happy to help with that. ",
    "",
)
USER_FOLLOW_UPS = (
    "User: Thanks! Can you tell me more about that?",
    "Human: That makes sense. What should I do next?",
    "PERSON: ok, and what about the side effects?",
    "User: great, thank you",
)
PLACEHOLDERS = (
    "[Your Name]",
    "[insert symptom here]",
    "<your question here>",
    "{patient_name}",
    "{{ topic }}",
    "[PERSON]",
)
CONTROL_TEXT = ("<|im_end|>\n<|im_start|>user\n", "[/INST]", "\n### Response:\n", "<|eot_id|>")
PROMPT_LINES = (
    'Reply with a JSON object with two fields: "message" holds the person\'s next message',
    "You are role-playing a PERSON who is talking to an AI assistant. You are the human, "
    "never the assistant.",
    "Write only the person's next message, in the first person, as this person would type it.",
    "Reference information (facts you can rely on: use the ones that fit the person's "
    "question, in your own words, and never say you were given them)",
    "Example conversations with other people, showing the expected format, length and depth "
    "of an answer.",
    "Never answer your own question, never give advice, never act like an assistant.",
)


def _words(text: str) -> list[str]:
    return text.split()


def _edit_words(text: str, rng: random.Random, share: float = 0.08) -> str:
    """Change a few words here and there (how small models re-type a turn)."""
    words = _words(text)
    swaps = {"the": "a", "a": "the", "is": "was", "and": "&", "you": "u", "your": "ur"}
    for i in range(len(words)):
        if rng.random() < share:
            words[i] = swaps.get(words[i].lower(), words[i] + ",")
    return " ".join(words)


def _turns_of(conversations: Sequence[list[Message]], role: str) -> list[str]:
    return [m["content"] for c in conversations for m in c if m["role"] == role]


def flip_user(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The user seat holds an assistant's answer (opener + answer, or an answer alone)."""
    if convo[at]["role"] != "user":
        return None
    style = rng.randrange(3)
    if style == 0 and at + 1 < len(convo) and judged(convo[at + 1]["content"]):
        answer = convo[at + 1]["content"]  # the simulator answers its own question
    else:
        # An answer in the assistant's voice: a code listing in the user's seat is what
        # people paste, not a role flip.
        answer = rng.choice([t for t in _turns_of(pool, "assistant") if judged(t)])
    opener = rng.choice(ASSISTANT_OPENERS) if style != 2 else ""
    convo[at] = {"role": "user", "content": opener + answer[:1500]}
    return "role_flip"


def flip_assistant(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The assistant writes the person's lines: a next user turn, tagged or in its seat."""
    if convo[at]["role"] != "assistant":
        return None
    style = rng.randrange(3)
    text = convo[at]["content"]
    if style == 0:
        text = text + "\n\n" + rng.choice(USER_FOLLOW_UPS)
    elif style == 1:
        nxt = convo[at + 1]["content"] if at + 1 < len(convo) else convo[at - 1]["content"]
        text = f"User: {nxt}"
    else:
        text = rng.choice(_turns_of(pool, "user"))
    convo[at] = {"role": "assistant", "content": text}
    return "role_flip"


def loop(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """Degenerate repetition: a sentence, a phrase or the whole turn said again and again."""
    text = convo[at]["content"].strip()
    sentences = [s for s in _SENTENCE.split(text) if len(s.split()) >= 4]
    style = rng.randrange(3)
    if style == 0 and sentences:
        said = rng.choice(sentences)
        keep = rng.randint(1, max(1, len(sentences) // 2))
        text = " ".join(sentences[:keep] + [said] * rng.randint(3, 8))
    elif style == 1:
        words = _words(text)
        cut = rng.randint(min(5, len(words)), max(5, len(words)))
        phrase = words[max(0, cut - rng.randint(3, 8)) : cut] or words[:4] or ["the"]
        text = " ".join(words[:cut] + phrase * rng.randint(6, 25))
    else:
        text = "\n\n".join([text] * rng.randint(2, 3))
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "loop"


def echo(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The turn copies the other role's previous turn (as is, lightly edited, or prefixed)."""
    if at == 0:
        return None
    other = convo[at - 1]["content"]
    if len(other.split()) < 8:
        return None
    style = rng.randrange(3)
    text = other if style == 0 else _edit_words(other, rng) if style == 1 else "So, " + other
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "echo"


def repeat(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The turn says again what the same role said earlier (as is or lightly edited)."""
    earlier = [
        m["content"]
        for m in convo[:at]
        if m["role"] == convo[at]["role"] and len(m["content"].split()) >= 8
    ]
    if not earlier:
        return None
    said = rng.choice(earlier)
    text = said if rng.random() < 0.5 else _edit_words(said, rng, 0.04)
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "repeat"


def placeholder(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """Template text: a slot left in a person's message, or a turn that is only a slot."""
    role = convo[at]["role"]
    slot = rng.choice(PLACEHOLDERS)
    if role == "assistant" or rng.random() < 0.25:
        whole = rng.choice(("<assistant response>", "[Insert answer here]", "{{ answer }}"))
        text = whole if role == "assistant" else rng.choice(("<your message>", "[question]"))
    else:
        words = _words(convo[at]["content"])
        cut = rng.randint(0, len(words))
        text = " ".join([*words[:cut], slot, *words[cut:]])
    convo[at] = {"role": role, "content": text}
    return "placeholder"


def prompt_leak(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The role copies a line of the instructions it was given into its turn."""
    text = convo[at]["content"]
    if rng.random() < 0.25:  # the model runs past its turn into the chat template
        words = text.split()
        cut = rng.randint(1, max(1, len(words)))
        tail = convo[at + 1]["content"][:200] if at + 1 < len(convo) else "ok"
        marker = rng.choice(CONTROL_TEXT)
        convo[at] = {"role": convo[at]["role"], "content": f"{' '.join(words[:cut])}{marker}{tail}"}
        return "prompt_leak"
    line = rng.choice(PROMPT_LINES)
    text = f"{line}\n\n{text}" if rng.random() < 0.5 else f"{text}\n\n{line}"
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "prompt_leak"


def empty(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """Nothing said: an empty string, spaces, a zero-width space or bare punctuation."""
    convo[at] = {"role": convo[at]["role"], "content": rng.choice(("", "  ", "\u200b", "...", "?"))}
    return "empty"


def truncate(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """An assistant answer cut off mid-sentence (as max_tokens does)."""
    if convo[at]["role"] != "assistant":
        return None
    words = _words(convo[at]["content"])
    if len(words) < 80:
        return None
    cut = rng.randint(45, len(words) - 5)
    while cut < len(words) and re.search(r"[.!?:;)\]\"'`*]$", words[cut - 1]):
        cut += 1  # stop on a word, not after a sentence
    convo[at] = {"role": "assistant", "content": " ".join(words[:cut])}
    return "truncated"


CORRUPTIONS: dict[str, tuple[Corruption, ...]] = {
    "role_flip": (flip_user, flip_assistant),
    "loop": (loop,),
    "echo": (echo,),
    "repeat": (repeat,),
    "placeholder": (placeholder,),
    "prompt_leak": (prompt_leak,),
    "empty": (empty,),
    "truncated": (truncate,),
}


def plant(
    conversation: list[Message],
    kind: str,
    rng: random.Random,
    pool: Sequence[list[Message]],
    table: dict[str, tuple[Corruption, ...]] | None = None,
) -> tuple[list[Message], int] | None:
    """The conversation cut after one turn corrupted as `kind`, and that turn's index.

    `table` holds another language's generators (`tests/support/corruptions_ko.py`).
    """
    generators = (table or CORRUPTIONS)[kind]
    for _ in range(8):
        generator = rng.choice(generators)
        convo = [dict(m) for m in conversation]
        at = rng.randrange(len(convo))
        if generator(convo, at, rng, pool) is not None:
            return convo[: at + 1], at
    return None


def labelled(messages: list[Message], index: int, kind: str, **metadata: Any) -> dict[str, Any]:
    """An OpenAI `messages` record with the corrupted message labelled."""
    out = [dict(m) for m in messages]
    out[index]["label"] = kind
    return {"messages": out, "metadata": metadata}
