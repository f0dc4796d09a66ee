"""How chain-of-thought reasoning is laid out in a training record's assistant turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

CotLayout = Literal["think", "steps"]
LAYOUTS: tuple[CotLayout, ...] = ("think", "steps")


def render_cot(steps: Sequence[str], answer: str, layout: CotLayout) -> str:
    """The assistant turn: reasoning in `<think>` tags or as 'Step N:' lines, then the answer."""
    numbered = "\n".join(f"Step {i}: {step}" for i, step in enumerate(steps, start=1))
    if layout == "think":
        return f"<think>\n{numbered}\n</think>\n\n{answer}"
    return f"{numbered}\n\nAnswer: {answer}"
