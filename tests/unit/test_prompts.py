"""Prompt files declare their variables and render only with exactly those."""

from __future__ import annotations

from pathlib import Path

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


def test_language_files_take_the_same_variables_as_the_english_ones() -> None:
    from prompts import PromptSource, shipped_languages

    assert "ko" in shipped_languages()
    for name in available_prompts():
        korean = PromptSource().find(name, "ko")
        if korean is None:
            continue
        english = load_prompt(name)
        assert korean.language == "ko" and english.language == "en"
        assert korean.variables.keys() == english.variables.keys(), name
        assert any("\uac00" <= c <= "\ud7a3" for c in korean.sample_render())


def test_an_override_folder_falls_back_file_by_file(tmp_path: Path) -> None:
    from prompts import PromptSource

    (tmp_path / "assistant.jinja2").write_text("{#-\nvariables: {a: 1}\n-#}\nmine {{ a }}")
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "user_simulator.jinja2").write_text(
        "{#-\nvariables: {a: 1}\n-#}\n내 {{ a }}"
    )
    source = PromptSource(str(tmp_path))
    assert source.load("assistant").source.startswith("mine")
    assert source.load("labeler") == load_prompt("labeler")  # not overridden: packaged
    assert source.load("user_simulator", "ko").source.startswith("내")
    # Korean assistant: the packaged Korean file beats the English override.
    assert source.load("assistant", "ko").language == "ko"
    assert source.load("assistant", "ko").source != source.load("assistant").source
    with pytest.raises(PromptError, match="prompt folder not found: .*nowhere"):
        load_prompt("assistant", str(tmp_path / "nowhere"))


def test_a_role_asks_in_its_samples_language() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from agents.base import Role
    from prompts import PromptSource

    template = parse_template("verifier", "{#-\nvariables: {a: 1}\n-#}\nsay {{ a }}")
    role = Role(FakeListChatModel(responses=["{}"]), template, source=PromptSource())
    assert role.render_prompt(a=1) == "say 1"
    assert role.render_prompt("en", a=1) == "say 1"
    german = role.render_prompt("de", a=1)
    assert german.startswith("say 1") and "in German" in german
    # A language with its own packaged file renders that file, without the instruction.
    shipped = load_prompt("user_simulator")
    simulator = Role(FakeListChatModel(responses=["{}"]), shipped)
    korean = simulator.render_prompt("ko", **shipped.variables)
    assert "한국어" in korean and "write everything" not in korean
