"""Judge models scripted at the model boundary (langchain-core's fake chat model)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

Reply = Callable[[str, list[BaseMessage]], str]


class ScriptedJudgeModel(GenericFakeChatModel):
    """Answers each call with `reply(prompt_text, messages)`; counts calls, reports usage."""

    reply: Any = None
    calls: int = 0
    prompts: list[str] = []

    def __init__(self, reply: Reply, name: str = "judge-model", **kwargs: Any) -> None:
        super().__init__(messages=iter([]), reply=reply, model_name=name, **kwargs)
        self.prompts = []

    model_name: str = "judge-model"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        prompt = str(messages[0].content)
        self.prompts.append(prompt)
        text = self.reply(prompt, messages)
        message = AIMessage(
            text,
            usage_metadata={"input_tokens": 100, "output_tokens": 20, "total_tokens": 120},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def rubric_json(overall: int, rationale: str = "Clear and accurate.") -> str:
    """A valid rubric verdict."""
    criteria = [
        {"criterion": c, "score": overall}
        for c in ("relevance", "correctness", "helpfulness", "naturalness", "conditions", "safety")
    ]
    return json.dumps({"rationale": rationale, "criteria": criteria, "overall": overall})


def claims_json(*verdicts: str) -> str:
    """A faithfulness verdict with one claim per verdict."""
    claims = [
        {"claim": f"claim {i}", "verdict": v, "source": None if v == "unsupported" else 1}
        for i, v in enumerate(verdicts)
    ]
    return json.dumps({"claims": claims})


def labels_json(topic: str, difficulty: str = "easy", quality: str = "high") -> str:
    """A labeler answer."""
    return json.dumps(
        {"topic": topic, "difficulty": difficulty, "quality": quality, "tags": ["health"]}
    )
