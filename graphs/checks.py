"""Per-turn checks of a role-played dialogue: pure functions, one stable code each.

A check returns `None` when the candidate turn is fine, or a `Finding` (a stable
code such as `loop` or `role_flip`, plus a reason in words). The words are fed
back to the role when the turn is regenerated and kept on the reject record; the
code is what run ledgers, `synthloom checks eval` and the spec (`dialogue.checks`)
name. Every threshold here was measured on real conversations (ShareGPT) and on
labelled failures: `synthloom checks eval` and `benchmarks/bench_checks.py` give the
figures that the README shows.

The checks judge what a person would: code, tables, quotations and verse are not
loops; a revision the person asked for may keep most of the earlier text; quoting
a phrase back is a follow-up, not an echo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Literal, get_args

from pydantic import Field

from graphs.patterns import compiled as language_patterns
from synthloom.core.config import StrictModel
from synthloom.core.records import Reason, Role, Turn
from synthloom.core.textstats import (
    covered_share,
    find_loop,
    looks_like_code,
    mask_structure,
    prompt_grams,
    shares_gram,
    strip_fences,
    uncovered_words,
    word_count,
    words_of,
)
from synthloom.core.voice import assistant_voice, judged

CheckCode = Literal[
    "empty",
    "length",
    "placeholder",
    "markup",
    "prompt_leak",
    "role_flip",
    "repeat",
    "echo",
    "loop",
    "cut_off",
    "truncated",
]
CHECK_CODES: tuple[CheckCode, ...] = get_args(CheckCode)


@dataclass(frozen=True)
class Finding:
    """What is wrong with a turn: a stable code and a reason in words."""

    code: CheckCode
    text: str

    def __str__(self) -> str:
        return self.text


class TurnChecks(StrictModel):
    """`dialogue.checks`: which per-turn checks run, and their thresholds.

    The defaults were chosen on the ShareGPT `fit` half and measured on the `holdout`
    half and on labelled failures (README, "Quality gates").
    """

    empty: bool = True
    length: bool = True
    max_user_chars: int = Field(
        default=50_000, ge=1, description="Longer user turns are rejected (pasted documents fit)."
    )
    max_assistant_chars: int = Field(default=30_000, ge=1)
    placeholder: bool = True
    markup: bool = Field(default=True, description="HTML tags wrapping a person's prose.")
    prompt_leak: bool = True
    prompt_leak_words: int = Field(
        default=8, ge=4, le=40, description="A run this long copied from a prompt is a leak."
    )
    role_flip: bool = True
    role_voice: float = Field(
        default=0.9,
        ge=0.5,
        le=1.0,
        description="A user turn whose assistant-voice probability is at least this is a "
        "role flip (under 12 words: within (1 - this) / 5 of 1); an assistant turn needs "
        "(1 - this) / 5 or less, as assistants answer tersely. 1.0 turns the model off.",
    )
    repeat: bool = True
    repeat_share: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Two turns of one role that each cover this share of the other repeat.",
    )
    repeat_min_words: int = Field(
        default=6, ge=1, description="Shorter repeats ('continue', 'thanks') are fine."
    )
    echo: bool = True
    echo_share: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="A turn this much copied from the other role's earlier turn (both ways) "
        "echoes it, unless the copy comes with a request (a revision, a question).",
    )
    loop: bool = True
    cut_off: bool = Field(
        default=False,
        description="A turn that ends mid-sentence. Generation knows truncation from the "
        "server (finish_reason); turn this on for data without it.",
    )


DEFAULT_CHECKS = TurnChecks()

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
    r"(?:professional|assistant)|(?:\w+ )?ai assistant)\b"
    # An assistant speaking of its own output; a person says "the code you wrote".
    r"|\b(?:the|this|that|my) (?:code|answer|response|example|script|text) i "
    r"(?:generated|provided|gave you|wrote for you|suggested)\b"
    r"|\bi hope (?:this|that) (?:helps|answers your question)\b"
    r"|\bi apologi[sz]e for (?:the|any) (?:confusion|inconvenience|oversight)\b"
    r"|\bi(?:'m| am) (?:\w+ )?here to help (?:you|with your)\b|\bi(?:'ve| have) got you covered\b",
    re.IGNORECASE,
)
# An answer that greets the person by a template slot ("Hello [Your Name],").
_SLOT_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey)\b[^\n]{0,12}?[\[{<]\s*(?:your ?name|name|person|user|patient|someone)"
    r"\s*[\]}>]",
    re.IGNORECASE,
)
# The assistant writing the person's side of the dialogue (another kind of flip).
_SPEAKER_TAG = re.compile(
    r"^\s*\**(user|person|human|patient|me|you)\**\s*:", re.IGNORECASE | re.MULTILINE
)
_ANY_TAG = re.compile(r"^\s*\**([A-Z][\w .'-]{0,30}?)\**\s*:", re.MULTILINE)
# A person asking for a script or role-play expects speaker lines in the answer.
_SCRIPT_REQUEST = re.compile(
    r"\b(?:dialog(?:ue)?s?|conversations?|scripts?|scenes?|skits?|role[- ]?play\w*|interviews?"
    r"|transcripts?|chats?|screenplay|play|exchange|between|act as|pretend|simulate|example)\b",
    re.IGNORECASE,
)

_PLACEHOLDER = re.compile(
    r"^\s*<[^<>]{1,80}>\s*$"
    r"|\[(?:your |insert |the |patient'?s? )?(?:name|address|specialty|topic|type|date|age|"
    r"location|condition|number|city|doctor|medication)\b[^\]]{0,40}\]"
    r"|\[(?:your|insert|enter|add) [^\]]{1,40}\]"
    r"|<(?:your|insert|enter|the person'?s?) [^<>]{1,40}>",
    re.IGNORECASE,
)
_WHOLE_PLACEHOLDER = re.compile(
    r"^\s*(?:<[^<>]{1,80}>|\[[^\[\]]{1,80}\]|\{\{?[^{}]{1,80}\}?\})\s*$"
)
_TEMPLATE_SLOT = re.compile(
    r"\{\{?\s*[A-Za-z_]{2,30}\s*\}\}?"  # {person}, {{ name }}
    r"|[\[{]\s*[a-z]+_[a-z_]+\s*[\]}]"  # [user_name], {first_name}
    r"|\[(?:person|user|human|patient|caller|name|your ?name)\]",  # [PERSON], [yourname]
    re.IGNORECASE,
)
_JINJA = re.compile(r"\{\{\s*[a-z_][\w.]*\s*\}\}|\{%-?\s*(?:if|for|endif|endfor)\b")
# People chatting do not wrap their prose in HTML tags.
_MARKUP = re.compile(r"</?(?:script|br|h[1-6]|div|span|p)\b[^>]*>", re.IGNORECASE)
_CODE_HINT = re.compile(
    r"[{};=]|<!DOCTYPE|<html|class=|style=|<(?:li|td|tr|ul|table)\b", re.IGNORECASE
)

# The role writing about the generation itself: our prompt's headings or feedback echoed.
_META = re.compile(
    r"\b(?:your|my|the) (?:previous )?(?:message|attempt|answer) was rejected\b"
    r"|\bwrite a different (?:message|answer)\b"
    r"|\bthe conversation so far\s*:"
    r"|\bthings you might ask about\s*:"
    r"|\bwrite the person'?s (?:next|first) message\b"
    r"|\byou are role-playing a person\b",
    re.IGNORECASE,
)
# A chat template's control text: the model ran past its turn or wrote the template.
_CONTROL = re.compile(
    r"<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|system|user|"
    r"assistant|end|begin_of_text)\|>|\[/?INST\]|<</?SYS>>|^\s*### (?:Instruction|Response)\s*:",
    re.MULTILINE,
)
# A person asking for a change expects the answer to keep much of what it changes.
_REVISION = re.compile(
    r"\b(?:re-?write|rephrase|paraphrase|revise|edit|proofread|correct|fix|improve|polish"
    r"|shorten|shorter|longer|expand|extend|translate|convert|format|reformat|rework|adjust"
    r"|change|modify|update|replace|remove|delete|add|insert|include|redo|again|instead"
    r"|grammar|spelling|typos?|version|tweak)\b",
    re.IGNORECASE,
)
# What a person adds when pasting text back: an instruction or a question about it.
_REQUEST = re.compile(
    r"\?|\b(?:please|pls|plz|can you|could you|would you|make|use|write|give|tell|explain"
    r"|summari[sz]e|continue|keep|try|do|what|why|how)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"[^\"\n]{0,400}\"|“[^”\n]{0,400}”")
# Copies this close are the same turn, whatever was asked.
SAME_TURN_SHARE = 0.97
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060\ufeff]")
# A sentence ends with punctuation, a closing bracket or quote, a code fence or a
# list item; prose that stops on a word was cut off.
_ENDS_WELL = re.compile(r"""[.!?:;)\]}"'`*_>~|…。！？」』】]\s*$""")
_LIST_OR_LABEL = re.compile(r"^\s*(?:\d+[.)]|[-*•#|+]|[A-Z][\w ]{0,40}$)")
CUT_OFF_MIN_WORDS = 40
# The voice model needs a few sentences to go on: "Often below seven percent." is an
# answer, "Yes." is either.
VOICE_MIN_WORDS = 12
VOICE_SHORT_WORDS = 4

_PROMPT_NAMES = ("user_simulator", "assistant")


@dataclass(frozen=True)
class CheckContext:
    """What the checks compare a turn with besides the dialogue: the prompts' own text."""

    prompts: tuple[str, ...] = ()
    words: int = DEFAULT_CHECKS.prompt_leak_words
    grams: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *texts: str, words: int = DEFAULT_CHECKS.prompt_leak_words) -> CheckContext:
        """A context whose prompt texts (system prompts, templates) a turn must not copy."""
        kept = tuple(t for t in texts if t and t.strip())
        return cls(kept, words, prompt_grams(kept, words))


@lru_cache(maxsize=1)
def packaged_prompt_text() -> tuple[str, ...]:
    """The fixed wording of the dialogue prompt files (template tags stripped)."""
    from prompts import PromptSource, load_prompt, shipped_languages

    templates = [load_prompt(name) for name in _PROMPT_NAMES]
    for language in shipped_languages():
        templates += [t for n in _PROMPT_NAMES if (t := PromptSource().find(n, language))]
    out = []
    for template in templates:
        source = template.source
        source = re.sub(r"\{#.*?#\}", " ", source, flags=re.DOTALL)
        source = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", "\n", source, flags=re.DOTALL)
        out.append(source)
    return tuple(out)


def default_context(*extra: str, words: int = DEFAULT_CHECKS.prompt_leak_words) -> CheckContext:
    """Leak detection against the packaged prompts plus `extra` texts (a system prompt)."""
    return CheckContext.of(*packaged_prompt_text(), *extra, words=words)


Check = Callable[[Turn, Sequence[Turn], TurnChecks, CheckContext], Finding | None]


def _other_language(kind: str, text: str) -> bool:
    """Whether a language file's pattern of `kind` (`graphs/patterns/*.yaml`) matches."""
    pattern = language_patterns(kind)
    return pattern is not None and pattern.search(text) is not None


def _normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def check_empty(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """A turn with no words (zero-width spaces and punctuation alone count as none)."""
    if not re.search(r"\w", _ZERO_WIDTH.sub("", candidate["content"])):
        return Finding("empty", f"empty {candidate['role']} turn")
    return None


def check_length(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """A turn longer than its role's bound (generous: people paste documents)."""
    limit = cfg.max_user_chars if candidate["role"] == "user" else cfg.max_assistant_chars
    size = len(candidate["content"])
    if size > limit:
        return Finding(
            "length", f"{candidate['role']} turn too long: {size:,} characters (max {limit:,})"
        )
    return None


def check_placeholder(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """Template text instead of a message: `<your message>`, `[Your Name]`, `{{ topic }}`."""
    content = candidate["content"]
    role = candidate["role"]
    if _WHOLE_PLACEHOLDER.match(content) or (role == "assistant" and _SLOT_GREETING.match(content)):
        return Finding("placeholder", f"placeholder text in the {role} turn")
    prose = mask_structure(content)
    # An assistant may write a mail-merge template ("Hi {{name}},") when asked to.
    if role == "user" and _JINJA.search(strip_fences(content)) and not looks_like_code(content):
        return Finding("placeholder", "template syntax in the user turn")
    # Letters and forms an assistant writes on request keep [Your Name] on purpose; a
    # person pasting code or a prompt template keeps its {slots}.
    if role == "user" and (
        _PLACEHOLDER.search(prose)
        or _other_language("placeholder", prose)
        or (_TEMPLATE_SLOT.search(prose) and not looks_like_code(content))
    ):
        return Finding("placeholder", "placeholder text in the user turn")
    return None


def check_markup(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """HTML tags in a person's prose (`<h1>Hello</h1>`), not in pasted code."""
    if candidate["role"] != "user":
        return None
    prose = mask_structure(candidate["content"])
    if _MARKUP.search(prose) and not _CODE_HINT.search(prose):
        return Finding("markup", "markup in the user turn: write plain text, as a person types")
    return None


def check_prompt_leak(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """The role copying the prompt it was given (headings, rules, feedback, system prompt)."""
    content = candidate["content"]
    if _CONTROL.search(mask_structure(content)):
        return Finding(
            "prompt_leak", f"chat template text in the {candidate['role']} turn: end the turn there"
        )
    if _META.search(content) or _other_language("meta", content):
        return Finding(
            "prompt_leak",
            f"prompt text in the {candidate['role']} turn: write only what the person says",
        )
    if shares_gram(content, ctx.grams, ctx.words):
        return Finding(
            "prompt_leak",
            f"prompt text in the {candidate['role']} turn: it copies the instructions",
        )
    return None


def _writes_user_lines(content: str, history: Sequence[Turn]) -> bool:
    prose = mask_structure(content)
    if not (_SPEAKER_TAG.search(prose) or _other_language("speaker_tag", prose)):
        return False
    # A script has speakers of its own ("Dragon:", "Cat:"): two of them, or one when
    # the person asked for a dialogue, a scene or a role-play.
    names = {m.group(1).strip().lower() for m in _ANY_TAG.finditer(prose)}
    others = names - {"user", "person", "human", "patient", "me", "you", "assistant", "ai"}
    if len(others) >= 2:
        return False
    asked = next((t["content"] for t in reversed(history) if t["role"] == "user"), "")
    return not (others and _SCRIPT_REQUEST.search(asked))


def check_role_flip(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """The user simulator answering like an assistant, or the assistant playing the user."""
    content = candidate["content"]
    size = len(words_of(content))
    # Short turns need the model to be surer: (1 - role_voice) / 5 from the edge.
    margin = (1.0 - cfg.role_voice) / (1 if size >= VOICE_MIN_WORDS else 5)
    voiced = cfg.role_voice < 1.0 and size >= VOICE_SHORT_WORDS and judged(content)
    if candidate["role"] == "user":
        unquoted = _QUOTED.sub(" ", content)  # 'do not say "As an AI language model"'
        if (
            _ASSISTANT_VOICE.search(unquoted)
            or _ASSISTANT_ANYWHERE.search(unquoted)
            or _other_language("assistant_opener", unquoted)
            or _other_language("assistant_anywhere", unquoted)
        ):
            return Finding("role_flip", "role flip: the user simulator answered like an assistant")
        if voiced and assistant_voice(content) >= 1.0 - margin:
            return Finding(
                "role_flip",
                "role flip: the user turn reads as an assistant's answer; write as the person",
            )
        return None
    if _writes_user_lines(content, history):
        return Finding("role_flip", "role flip: the assistant wrote the user's lines")
    # Assistants answer tersely or ask back; only a turn the model is sure a person
    # wrote counts here (speaker tags above catch the usual way of playing the user).
    if voiced and assistant_voice(content) <= (1.0 - cfg.role_voice) / 5:
        return Finding(
            "role_flip",
            "role flip: the assistant turn reads as the person's message; answer it instead",
        )
    return None


# New words (not in the earlier turn at all) beyond this many, or this share of the
# turn, mean the turn says something new.
NEW_WORDS = 2
NEW_WORDS_SHARE = 0.03
NEW_SHORT_SHARE = 0.1  # "Deep Work" for "Atomic Habits" in a 14-word question


def _says_new_things(text: str, earlier: str) -> bool:
    vocabulary = set(words_of(earlier))
    new = {w for w in uncovered_words(text, earlier) if w not in vocabulary}
    size = len(words_of(text))
    return len(new) > max(NEW_WORDS, NEW_WORDS_SHARE * size) or len(new) >= NEW_SHORT_SHARE * size


def _comparable(size: int, other: str) -> bool:
    # Two turns that each cover most of the other are of like length; this skips the
    # n-gram work for most pairs.
    return size / 2 <= word_count(other) <= size * 2


def _asks_for_change(text: str) -> bool:
    return _REVISION.search(text) is not None


def _asks(text: str) -> bool:
    return _REQUEST.search(text) is not None or _asks_for_change(text)


def _copies(
    text: str, history: Sequence[Turn], *, same_role: bool, role: str, share: float
) -> Iterator[tuple[Turn, float]]:
    """Earlier turns (of this role, or of the other) that `text` and they each cover."""
    size = word_count(text)
    for earlier in history:
        if (earlier["role"] == role) != same_role or not _comparable(size, earlier["content"]):
            continue
        forward = covered_share(text, earlier["content"])
        if forward < share:
            continue
        backward = covered_share(earlier["content"], text)
        if backward >= share:
            yield earlier, min(forward, backward)


def check_repeat(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """A turn that says again what the same role already said (the whole of it)."""
    text = candidate["content"]
    if word_count(text) < cfg.repeat_min_words:
        return None
    request = history[-1]["content"] if history and history[-1]["role"] != candidate["role"] else ""
    role = candidate["role"]
    for earlier, cover in _copies(text, history, same_role=True, role=role, share=cfg.repeat_share):
        # A parallel answer ("the same for mythical creatures") keeps the frame and says
        # new things in it; a repeat says nothing the earlier turn did not.
        if _says_new_things(text, earlier["content"]):
            continue
        # A revision the person asked for may keep most of the text, but not all of it.
        if request and _asks_for_change(request) and cover < SAME_TURN_SHARE:
            continue
        return Finding(
            "repeat",
            f"repeated turn: the {candidate['role']} turn says again an earlier "
            f"{earlier['role']} turn",
        )
    return None


def check_echo(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """A turn that copies the whole of the other role's earlier turn and adds nothing asked."""
    text = candidate["content"]
    if word_count(text) < cfg.repeat_min_words:
        return None
    last_user = next((t["content"] for t in reversed(history) if t["role"] == "user"), "")
    role = candidate["role"]
    for earlier, cover in _copies(text, history, same_role=False, role=role, share=cfg.echo_share):
        same = cover >= SAME_TURN_SHARE
        if candidate["role"] == "user":
            # Pasting the answer back with an instruction ("make this shorter: ...").
            added = uncovered_words(text, earlier["content"])
            if len(added) >= 2 and _asks(" ".join(added)):
                continue
        elif _asks_for_change(last_user) and not same:
            continue  # proofreading, formatting, translating what the person pasted
        return Finding(
            "echo",
            f"echo: the {candidate['role']} turn copies an earlier {earlier['role']} turn",
        )
    return None


def check_loop(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """Degenerate repetition: one sentence or phrase over and over (code and verse masked)."""
    found = find_loop(candidate["content"])
    if found is None:
        return None
    return Finding("loop", f"looping {candidate['role']} turn: {found.describe()}")


def is_cut_off(text: str) -> bool:
    """Prose that stops on a word, mid-sentence (lists, labels and code end as they like)."""
    stripped = _ZERO_WIDTH.sub("", text).rstrip()
    if _ENDS_WELL.search(stripped) or len(words_of(stripped)) < CUT_OFF_MIN_WORDS:
        return False
    if stripped.count("```") % 2:
        return True  # a code block that never closes
    last = stripped.rsplit("\n", 1)[-1]
    return not _LIST_OR_LABEL.match(last)


def check_cut_off(
    candidate: Turn, history: Sequence[Turn], cfg: TurnChecks, ctx: CheckContext
) -> Finding | None:
    """An assistant turn that stops mid-sentence (for data without a finish_reason)."""
    if candidate["role"] == "assistant" and is_cut_off(candidate["content"]):
        return Finding("cut_off", "truncated assistant turn: it stops mid-sentence")
    return None


TURN_CHECKS: tuple[tuple[str, Check], ...] = (
    ("empty", check_empty),
    ("length", check_length),
    ("placeholder", check_placeholder),
    ("markup", check_markup),
    ("prompt_leak", check_prompt_leak),
    ("repeat", check_repeat),
    ("echo", check_echo),
    ("role_flip", check_role_flip),
    ("loop", check_loop),
    ("cut_off", check_cut_off),
)


def enabled_checks(cfg: TurnChecks) -> list[tuple[str, Check]]:
    """The checks the config turns on, in order."""
    return [(name, check) for name, check in TURN_CHECKS if getattr(cfg, name)]


def all_problems(
    candidate: Turn,
    history: Sequence[Turn],
    cfg: TurnChecks = DEFAULT_CHECKS,
    ctx: CheckContext | None = None,
) -> list[Finding]:
    """Every enabled check's finding (for evaluation: which checks a turn trips)."""
    context = ctx if ctx is not None else default_context(words=cfg.prompt_leak_words)
    found = []
    for _, check in enabled_checks(cfg):
        finding = check(candidate, history, cfg, context)
        if finding is not None:
            found.append(finding)
    return found


def first_problem(
    candidate: Turn,
    history: Sequence[Turn],
    *,
    truncated: bool | None = False,
    checks: TurnChecks = DEFAULT_CHECKS,
    context: CheckContext | None = None,
) -> Finding | None:
    """The first failing check's finding, or `None` if the turn is acceptable.

    `truncated` says the model hit max_tokens: a cut-off answer is not training data.
    """
    if truncated:
        return Finding(
            "truncated",
            f"truncated {candidate['role']} turn: it hit max_tokens; answer in fewer words",
        )
    ctx = context if context is not None else default_context(words=checks.prompt_leak_words)
    for _, check in enabled_checks(checks):
        finding = check(candidate, history, checks, ctx)
        if finding is not None:
            return finding
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


REPEAT_SIMILARITY = 0.9
FUZZY_MIN_CHARS = 30


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    # Short texts that differ at all ("factor 1" / "factor 2") are different statements.
    if min(len(a), len(b)) < FUZZY_MIN_CHARS:
        return False
    matcher = SequenceMatcher(None, a, b)
    return (
        matcher.real_quick_ratio() >= REPEAT_SIMILARITY
        and matcher.quick_ratio() >= REPEAT_SIMILARITY
        and matcher.ratio() >= REPEAT_SIMILARITY
    )


def is_repeat(text: str, earlier: Sequence[str]) -> bool:
    """Whether `text` (nearly) restates any of `earlier` (CoT steps)."""
    norm = _normalize(text)
    return any(_similar(norm, _normalize(other)) for other in earlier)


MIN_QUESTION_WORDS = 6
MIN_STEP_WORDS = 3
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%")


def question_problem(question: str) -> Reason | None:
    """Why a written CoT question is unusable: too short, or template text."""
    if _TEMPLATE_SYNTAX.search(question) or _PLACEHOLDER.search(question):
        return Reason("placeholder", "placeholder text in the question")
    if len(re.findall(r"[^\W\d_]+", question)) < MIN_QUESTION_WORDS:
        text = f"question too short: a real question needs at least {MIN_QUESTION_WORDS} words"
        return Reason("short_question", text)
    return None


def step_problem(step: str, earlier: Sequence[str]) -> Reason | None:
    """Why a reasoning step is unusable: empty, no words to it, or a repeat."""
    if not step.strip():
        return Reason("empty_step", "empty step")
    if len(re.findall(r"[^\W\d_]+|\d+(?:\.\d+)?", step)) < MIN_STEP_WORDS:
        text = f"step too short: state an inference in at least {MIN_STEP_WORDS} words"
        return Reason("short_step", text)
    if is_repeat(step, earlier):
        return Reason("repeated_step", "repeated step: it restates an earlier step")
    return None


def next_role(history: Sequence[Turn]) -> Role:
    """Who speaks next: the user opens, then the roles alternate."""
    return "assistant" if history and history[-1]["role"] == "user" else "user"
