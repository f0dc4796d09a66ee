"""Prompt files declare their variables and render only with exactly those."""

from __future__ import annotations

import pytest

from prompts import available_prompts, load_prompt, parse_template
from synthloom.core.errors import PromptError


def test_packaged_prompts_render_their_samples() -> None:
    names = available_prompts()
    assert {"assistant", "user_simulator"} <= set(names)
    for name in names:
        text = load_prompt(name).sample_render()
        assert "{{" not in text and len(text) > 50


def test_undeclared_variable_in_body_is_refused() -> None:
    with pytest.raises(PromptError, match="undeclared variables \\['secret'\\]"):
        parse_template("x", "{#-\nvariables: {a: 1}\n-#}\n{{ a }} {{ secret }}")


def test_render_requires_exactly_the_declared_variables() -> None:
    template = parse_template("x", "{#-\nvariables: {a: 1, b: 2}\n-#}\n{{ a }}-{{ b }}")
    assert template.render(a=1, b=2) == "1-2"
    with pytest.raises(PromptError, match="missing \\['b'\\]"):
        template.render(a=1)
    with pytest.raises(PromptError, match="undeclared \\['c'\\]"):
        template.render(a=1, b=2, c=3)


def test_variables_are_data_not_template_source() -> None:
    template = parse_template("x", "{#-\nvariables: {a: 1}\n-#}\n{{ a }}")
    assert template.render(a="{{ 7 * 7 }}") == "{{ 7 * 7 }}"


def test_sandbox_blocks_python_internals() -> None:
    template = parse_template("x", "{#-\nvariables: {a: 1}\n-#}\n{{ a.__class__.__mro__ }}")
    with pytest.raises(PromptError):
        template.render(a="text")


def test_missing_front_matter_is_an_error() -> None:
    with pytest.raises(PromptError, match="front matter"):
        parse_template("x", "Hello {{ name }}")


def test_cli_preview_of_an_unknown_prompt_is_one_user_error() -> None:
    from typer.testing import CliRunner

    from synthloom.cli import app
    from synthloom.core.errors import SynthloomError

    result = CliRunner().invoke(app, ["prompts", "nonexistent"])
    assert isinstance(result.exception, SynthloomError)
    assert "no packaged prompt named 'nonexistent'" in str(result.exception)
    assert "user_simulator" in str(result.exception)  # the names that do exist
    shown = CliRunner().invoke(app, ["prompts", "assistant"])
    assert shown.exit_code == 0 and "assistant — variables:" in shown.output
