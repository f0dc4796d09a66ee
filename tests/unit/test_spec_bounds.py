"""Spec bounds: text sent with every call (topics, condition values, system prompts) is capped."""

from __future__ import annotations

import pytest

from synthloom.core.errors import SpecError
from synthloom.spec import parse_spec


@pytest.mark.parametrize(
    ("body", "line", "field", "limit"),
    [
        ('topics: ["{big}"]', 2, "topics.0", 500),
        ('topics: [a]\nconditions: {{persona: ["{big}"]}}', 3, "conditions.persona.0.value", 500),
        ('topics: [a]\ndialogue: {{assistant_system_prompt: "{big}"}}', 3,
         "dialogue.assistant_system_prompt", 8000),
        ('topics: [a]\ncot: {{system_prompt: "{big}"}}', 3, "cot.system_prompt", 8000),
    ],
)  # fmt: skip
def test_overlong_text_is_one_clear_error_naming_field_line_and_size(
    body: str, line: int, field: str, limit: int
) -> None:
    big = "x" * 500_000  # a file pasted by mistake (PyYAML reads 5 MB in 4 s, 500 KB in 0.4)

    with pytest.raises(SpecError) as caught:
        parse_spec("samples: 5\n" + body.format(big=big), source="spec.yaml")

    message = str(caught.value)
    assert f"spec.yaml:{line}: {field}: String should have at most {limit} characters" in message
    assert f"(got {'x' * 60!r}…, 500,000 characters)" in message
    assert len(message) < 400


def test_text_at_the_limits_is_accepted() -> None:
    spec = parse_spec(
        f"samples: 1\ntopics: [{'t' * 500}]\nconditions: {{p: [{'v' * 500}]}}\n"
        f"dialogue: {{assistant_system_prompt: {'s' * 8000}}}\n",
        source="spec.yaml",
    )
    assert len(spec.topics[0]) == 500
