"""Plant labelled failures into real Korean exchanges, several styles of each kind.

The Korean counterpart of `tests/support/corruptions.py`: the same kinds, written as
weak models fail in Korean (an assistant's 합니다체 opener in the user's seat, a
`사용자:` line in the assistant's, `[이름]` slots, our Korean prompt's lines). Loops,
echoes, repeats and empty turns are language-blind and come from the English module.
Used by `benchmarks/data/build_korean_sets.py` (the shipped labelled set).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tests.support.corruptions import CONTROL_TEXT, Corruption, Message, empty, loop

ASSISTANT_OPENERS = (
    "물론입니다! 다음은 개요입니다: ",
    "좋은 질문입니다! ",
    "좋은 질문이에요. ",
    "AI 언어 모델로서 설명드리겠습니다. ",
    "기꺼이 도와드리겠습니다. ",
    "네, 그 부분에 대해 설명해 드리겠습니다. ",
    "",
)
ASSISTANT_CLOSERS = (
    " 도움이 되었기를 바랍니다.",
    " 궁금한 점이 있으시면 언제든지 물어보세요.",
    " 또 무엇을 도와드릴까요?",
    " 혼란을 드려 죄송합니다.",
)
USER_FOLLOW_UPS = (
    "사용자: 고마워요! 더 자세히 알려줄 수 있어요?",
    "사람: 그렇군요. 그럼 이제 뭘 해야 하죠?",
    "환자: 네, 부작용은 어떤가요?",
    "사용자: 알겠어요, 감사합니다",
)
PLACEHOLDERS = ("[이름]", "[여기에 증상 입력]", "<질문 내용>", "[환자 이름]", "{이름}", "[날짜]")
WHOLE_SLOTS = ("<어시스턴트 답변>", "[여기에 답변 입력]", "{{ answer }}", "<메시지>")
PROMPT_LINES = (
    "당신은 AI 어시스턴트와 대화하는 한 사람(사용자)을 연기합니다.",
    "이 사람이 직접 입력할 다음 메시지만, 1인칭으로, 한국어로 쓰세요.",
    '두 필드를 가진 JSON 객체로 답하세요: "message"에는 이 사람의 다음 메시지를',
    "스스로 질문에 답하거나 조언하지 말고, 어시스턴트처럼 행동하지 마세요.",
    "지금까지의 대화:",
    "이전 시도는 거절되었습니다: 다른 메시지를 쓰세요.",
)


def _turns_of(conversations: Sequence[list[Message]], role: str) -> list[str]:
    return [m["content"] for c in conversations for m in c if m["role"] == role]


def _edit(text: str, rng: random.Random) -> str:
    """Change a word's ending or spacing (how small models re-type a Korean turn)."""
    words = text.split()
    endings = {"요": "요!", "다": "다.", "까": "까?", "네": "네요"}
    for i in range(len(words)):
        if rng.random() < 0.15:
            words[i] = words[i] + endings.get(words[i][-1:], ",")
    return " ".join(words)


def flip_user(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The user seat holds an assistant's words: an opener or a closer with an answer."""
    if convo[at]["role"] != "user":
        return None
    answer = rng.choice(_turns_of(pool, "assistant"))
    if rng.random() < 0.6:
        text = rng.choice(ASSISTANT_OPENERS[:-1]) + answer
    else:
        text = answer + rng.choice(ASSISTANT_CLOSERS)
    convo[at] = {"role": "user", "content": text}
    return "role_flip"


def flip_assistant(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The assistant writes the person's lines, tagged after its answer or instead of it."""
    if convo[at]["role"] != "assistant":
        return None
    text = convo[at]["content"]
    if rng.random() < 0.5:
        text = text + "\n\n" + rng.choice(USER_FOLLOW_UPS)
    else:
        tag = rng.choice(("사용자", "사람", "환자"))
        text = f"{tag}: {rng.choice(_turns_of(pool, 'user'))}"
    convo[at] = {"role": "assistant", "content": text}
    return "role_flip"


def echo(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The turn copies the other role's previous turn (as is, or lightly re-typed)."""
    if at == 0 or len(convo[at - 1]["content"].split()) < 6:
        return None
    other = convo[at - 1]["content"]
    text = other if rng.random() < 0.5 else _edit(other, rng)
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "echo"


def repeat(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """The turn says again what the same role said earlier (as is or lightly re-typed)."""
    role = convo[at]["role"]
    earlier = [
        m["content"] for m in convo[:at] if m["role"] == role and len(m["content"].split()) >= 6
    ]
    if not earlier:
        return None
    said = rng.choice(earlier)
    text = said if rng.random() < 0.5 else _edit(said, rng)
    convo[at] = {"role": role, "content": text}
    return "repeat"


def placeholder(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """A slot left in a person's message, or a turn that is only a slot."""
    role = convo[at]["role"]
    if role == "assistant" or rng.random() < 0.25:
        text = rng.choice(WHOLE_SLOTS)
    else:
        words = convo[at]["content"].split()
        cut = rng.randint(0, len(words))
        text = " ".join([*words[:cut], rng.choice(PLACEHOLDERS), *words[cut:]])
    convo[at] = {"role": role, "content": text}
    return "placeholder"


def prompt_leak(
    convo: list[Message], at: int, rng: random.Random, pool: Sequence[list[Message]]
) -> str | None:
    """A line of our Korean instructions, or the chat template, in the turn."""
    text = convo[at]["content"]
    if rng.random() < 0.25:
        tail = convo[at + 1]["content"][:200] if at + 1 < len(convo) else "네"
        convo[at] = {"role": convo[at]["role"], "content": text + rng.choice(CONTROL_TEXT) + tail}
        return "prompt_leak"
    line = rng.choice(PROMPT_LINES)
    text = f"{line}\n\n{text}" if rng.random() < 0.5 else f"{text}\n\n{line}"
    convo[at] = {"role": convo[at]["role"], "content": text}
    return "prompt_leak"


CORRUPTIONS: dict[str, tuple[Corruption, ...]] = {
    "role_flip": (flip_user, flip_assistant),
    "loop": (loop,),
    "echo": (echo,),
    "repeat": (repeat,),
    "placeholder": (placeholder,),
    "prompt_leak": (prompt_leak,),
    "empty": (empty,),
}
