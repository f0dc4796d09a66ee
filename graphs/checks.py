"""Per-turn checks of a role-played dialogue: pure functions, one reason each.

A check returns `None` when the candidate turn is fine, or a short reason that
is fed back to the role when the turn is regenerated and kept on the reject
record if the budget runs out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher

from synthloom.records import Role, Turn
from synthloom.textstats import (
    LOOP_MIN_WORDS,
    LOOP_NGRAM,
    LOOP_SHARE,
    repeated_share,
    words_of,
)

MIN_CHARS = 2
REPEAT_SIMILARITY = 0.9

# Openers that betray the user simulator speaking as the assistant (a role flip).
_ASSISTANT_VOICE = re.compile(
    r"^\s*(assistant\s*:|as an ai\b|i(?:'m| am) an ai\b|as a (?:language model|helpful assistant)"
    r"|i(?:'d| would) be (?:happy|glad) to help|how (?:can|may) i (?:help|assist)"
    r"|certainly[!,.]|of course[!,.] here|sure[!,.] here|great question"
    r"|here(?:'s| is) (?:a|an|the|some) (?:answer|overview|summary|list|breakdown|explanation))",
    re.IGNORECASE,
)
# Phrases a person seeking help does not say anywhere in their turn.
_ASSISTANT_ANYWHERE = re.compile(
    r"\bi(?:'m| am) your (?:ai |virtual |medical |health )?assistant\b"
    r"|\bas an ai (?:language model|assistant)\b"
    r"|\bas a (?:medical professional|healthcare professional|clinician)\b"
    r"|\bi(?:'m| am) (?:happy|glad) to answer any questions you\b"
    r"|\bhow (?:can|may) i (?:help|assist) you\b"
    r"|\bi(?:'m| am) here to (?:help|support|assist)(?: you\b|\s*(?:[.!]|$))"
    r"|\bi(?:'m| am) (?:a|an|your) (?:(?:medical|healthcare|health care|health) "
    r"(?:professional|assistant)|(?:\w+ )?ai assistant)\b",
    re.IGNORECASE,
)
# The assistant writing the person's side of the dialogue (another kind of flip).
_SPEAKER_TAG = re.compile(r"^\s*(user|person|human|patient)\s*:", re.IGNORECASE | re.MULTILINE)

_PLACEHOLDER = re.compile(
    r"^\s*<[^<>]{1,80}>\s*$"
    r"|\[(?:your |insert |the |patient'?s? )?(?:name|address|specialty|topic|type|date|age|"
    r"location|condition|number|city|doctor|medication)\b[^\]]{0,40}\]"
    r"|\[(?:your|insert|enter|add) [^\]]{1,40}\]",
    re.IGNORECASE,
)

_TEMPLATE_SLOT = re.compile(
    r"\{\{?\s*[A-Za-z_]{2,30}\s*\}\}?"  # {person}, {{ name }}
    r"|[\[{]\s*[a-z]+_[a-z_]+\s*[\]}]"  # [user_name], {first_name}
    r"|\[(?:person|user|human|patient|caller|name|your ?name)\]",  # [PERSON], [yourname]
    re.IGNORECASE,
)
# People chatting do not type HTML tags.
_MARKUP = re.compile(r"</?(?:script|br|h[1-6]|div|span|p)\b[^>]*>", re.IGNORECASE)

# The role writing about the generation itself: our prompt's headings or feedback echoed.
_META = re.compile(
    r"\b(?:your|my|the) (?:previous )?(?:message|attempt|answer) was rejected\b"
    r"|\bwrite a different (?:message|answer)\b"
    r"|\bthe conversation so far\s*:"
    r"|\bthings you might ask about\s*:",
    re.IGNORECASE,
)

Check = Callable[[Turn, Sequence[Turn]], str | None]


def _normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def check_empty(candidate: Turn, history: Sequence[Turn]) -> str | None:
    """A turn with no words."""
    if len(_normalize(candidate["content"])) < MIN_CHARS:
        return f"empty {candidate['role']} turn"
    return None


def check_role_flip(candidate: Turn, history: Sequence[Turn]) -> str | None:
    """The user simulator answering like an assistant, or the assistant playing the user."""
    content = candidate["content"]
    if candidate["role"] == "user" and (
        _ASSISTANT_VOICE.search(content) or _ASSISTANT_ANYWHERE.search(content)
    ):
        return "role flip: the user simulator answered like an assistant"
    if candidate["role"] == "assistant" and _SPEAKER_TAG.search(candidate["content"]):
        return "role flip: the assistant wrote the user's lines"
    return None


FUZZY_MIN_CHARS = 30


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    # Short texts that differ at all ("factor 1" / "factor 2") are different statements.
    if min(len(a), len(b)) < FUZZY_MIN_CHARS:
        return False
    matcher = SequenceMatcher(None, a, b)
    # The cheap upper bounds first: most pairs of turns are nowhere near each other.
    return (
        matcher.real_quick_ratio() >= REPEAT_SIMILARITY
        and matcher.quick_ratio() >= REPEAT_SIMILARITY
        and matcher.ratio() >= REPEAT_SIMILARITY
    )


# A turn whose in-order runs of words taken from one earlier turn cover this share
# of it copies that turn, even with words changed or a sentence added (small models
# echo). Runs shorter than COPY_MIN_WORDS ("high blood pressure") are shared
# phrases, not copying. Words, not characters: this runs on every turn, per pair.
COPY_SHARE = 0.6
COPY_MIN_WORDS = 4
COPY_MIN_TURN_WORDS = 6


# A run this long copied verbatim from an earlier turn is an echo even when the rest
# of the turn is new: people do not quote twelve words back, and an assistant that
# restates its own sentences teaches padding.
ECHO_RUN_WORDS = 12


def _copied(a: str, b: str) -> str | None:
    """How turn `a` copies turn `b` ("most of", "a long passage of"), or None."""
    words_a, words_b = a.split(), b.split()
    if min(len(words_a), len(words_b)) < COPY_MIN_TURN_WORDS:
        return None
    blocks = SequenceMatcher(None, words_a, words_b, autojunk=False).get_matching_blocks()
    runs = [block.size for block in blocks if block.size >= COPY_MIN_WORDS]
    if sum(runs) >= COPY_SHARE * len(words_a):
        return "most of"
    if runs and max(runs) >= ECHO_RUN_WORDS:
        return "a long passage of"
    return None


def is_repeat(text: str, earlier: Sequence[str]) -> bool:
    """Whether `text` (nearly) restates any of `earlier` (CoT steps, turns)."""
    norm = _normalize(text)
    return any(_similar(norm, _normalize(other)) for other in earlier)


def check_repeat(candidate: Turn, history: Sequence[Turn]) -> str | None:
    """A turn (nearly) identical to an earlier turn of the dialogue."""
    text = _normalize(candidate["content"])
    for earlier in history:
        other = _normalize(earlier["content"])
        role, other_role = candidate["role"], earlier["role"]
        if _similar(text, other):
            return f"repeated turn: the {role} turn repeats an earlier {other_role} turn"
        how = _copied(text, other)
        if how is not None:
            return f"repeated turn: the {role} turn copies {how} an earlier {other_role} turn"
    return None


def check_loop(candidate: Turn, history: Sequence[Turn]) -> str | None:
    """A turn that says the same thing over and over.

    Curation's repetition measure and bounds, caught here while the turn can still
    be regenerated ("it's caused by a combination of factors ... it's caused by ...").
    """
    words = words_of(candidate["content"])
    if len(words) < LOOP_MIN_WORDS:
        return None
    share = repeated_share(words, LOOP_NGRAM)
    if share > LOOP_SHARE:
        return f"looping {candidate['role']} turn: {share:.0%} of its words are repeated phrases"
    return None


def check_placeholder(candidate: Turn, history: Sequence[Turn]) -> str | None:
    """Template text copied instead of written: `<your message>`, `[Your Name]`, prompt text."""
    if _PLACEHOLDER.search(candidate["content"]):
        return f"placeholder text in the {candidate['role']} turn"
    # `{person}` slots and HTML tags: only in the user's turns, as an assistant may show code.
    if candidate["role"] == "user":
        if _TEMPLATE_SLOT.search(candidate["content"]):
            return "placeholder text in the user turn"
        if _MARKUP.search(candidate["content"]):
            return "markup in the user turn: write plain text, as a person types"
    if _META.search(candidate["content"]):
        return f"prompt text in the {candidate['role']} turn: write only what the person says"
    return None


TURN_CHECKS: tuple[Check, ...] = (
    check_empty,
    check_placeholder,
    check_role_flip,
    check_repeat,
    check_loop,
)


def first_problem(
    candidate: Turn, history: Sequence[Turn], *, truncated: bool | None = False
) -> str | None:
    """The first failing check's reason, or `None` if the turn is acceptable.

    `truncated` says the model hit max_tokens: a cut-off answer is not training data.
    """
    if truncated:
        return f"truncated {candidate['role']} turn: it hit max_tokens; answer in fewer words"
    for check in TURN_CHECKS:
        reason = check(candidate, history)
        if reason is not None:
            return reason
    return None


_SENTENCE_END = re.compile(r"[.!?](?:[\"')\]]*)(?=\s|$)")


def trim_to_sentence(text: str) -> str:
    """Cut a truncated answer back to its last complete sentence ('' if it has none)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].rstrip() if ends else ""


_LEADING_LABEL = re.compile(r"^\s*(?:person|user|human|me)\s*:\s*", re.IGNORECASE)


def strip_speaker_label(text: str) -> str:
    """Drop a transcript label ("PERSON: ...") the simulator copied from its prompt."""
    return _LEADING_LABEL.sub("", text, count=1).strip()


MIN_QUESTION_WORDS = 6
MIN_STEP_WORDS = 3
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%")


def question_problem(question: str) -> str | None:
    """Why a written CoT question is unusable: too short, or template text."""
    if _TEMPLATE_SYNTAX.search(question) or _PLACEHOLDER.search(question):
        return "placeholder text in the question"
    if len(re.findall(r"[^\W\d_]+", question)) < MIN_QUESTION_WORDS:
        return f"question too short: a real question needs at least {MIN_QUESTION_WORDS} words"
    return None


def step_problem(step: str, earlier: Sequence[str]) -> str | None:
    """Why a reasoning step is unusable: empty, no words to it, or a repeat."""
    if not step.strip():
        return "empty step"
    if len(re.findall(r"[^\W\d_]+|\d+(?:\.\d+)?", step)) < MIN_STEP_WORDS:
        return f"step too short: state an inference in at least {MIN_STEP_WORDS} words"
    if is_repeat(step, earlier):
        return "repeated step: it restates an earlier step"
    return None


def next_role(history: Sequence[Turn]) -> Role:
    """Who speaks next: the user opens, then the roles alternate."""
    return "assistant" if history and history[-1]["role"] == "user" else "user"
