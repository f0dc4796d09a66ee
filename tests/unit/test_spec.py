"""Spec parsing: valid specs load, broken ones name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthloom.core.errors import SpecError
from synthloom.spec import load_spec, parse_spec

MINIMAL = """
samples: 3
topics: [asthma]
"""


def test_minimal_spec_gets_defaults() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.task == "dialogue"
    assert spec.models.assistant.provider == "embedded"
    assert spec.dialogue.rounds.min <= spec.dialogue.rounds.max


def test_roles_inherit_default_and_override() -> None:
    spec = parse_spec(
        MINIMAL
        + """
models:
  default: {provider: openai, base_url: "http://h:1/v1", model: big, temperature: 0.3}
  user_simulator: {model: small}
"""
    )
    assert spec.models.user_simulator.model == "small"
    assert spec.models.user_simulator.base_url == "http://h:1/v1"
    assert spec.models.user_simulator.temperature == 0.3
    assert spec.models.assistant.model == "big"
    assert spec.models.judge.model == "big"


def test_condition_value_forms_normalize() -> None:
    spec = parse_spec(
        MINIMAL
        + """
conditions:
  a: [x, y]
  b: {x: 2, y: 1}
  c: [{value: x, weight: 3}, {value: y}]
"""
    )
    assert [(v.value, v.weight) for v in spec.conditions["b"]] == [("x", 2.0), ("y", 1.0)]
    assert [(v.value, v.weight) for v in spec.conditions["c"]] == [("x", 3.0), ("y", 1.0)]
    assert [v.value for v in spec.conditions["a"]] == ["x", "y"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL + "models:\n  assistant:\n    temperature: hot\n",
            ["<t>:6", "models.assistant.temperature"],
        ),
        (MINIMAL + "colour: blue\n", ["<t>:4", "colour: unknown field"]),
        ("samples: 3\n", ["topics: required field is missing (a list of topics, or a `concepts`"]),
        (
            MINIMAL + "dialogue:\n  rounds: {min: 4, max: 2}\n",
            ["dialogue.rounds", "max (2) must be >= min (4)"],
        ),
        ("samples: [1\n", ["<t>:2", "invalid YAML"]),
        ("- a\n- b\n", ["expected a mapping"]),
        (MINIMAL + "conditions:\n  persona: []\n", ["has no values"]),
        (MINIMAL + "models:\n  default: {provider: openai}\n", ["needs `base_url`"]),
    ],
)
def test_errors_name_line_and_field(text: str, expected: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="<t>")
    message = str(info.value)
    for fragment in expected:
        assert fragment in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_api_key_env_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec(
        MINIMAL + "models:\n  default: {provider: openai, api_key_env: SL_TEST_KEY}\n"
    )
    monkeypatch.delenv("SL_TEST_KEY", raising=False)
    with pytest.raises(SpecError, match="SL_TEST_KEY"):
        spec.models.assistant.api_key()
    monkeypatch.setenv("SL_TEST_KEY", "sk-1")
    assert spec.models.assistant.api_key() == "sk-1"


def test_fingerprint_ignores_budgets_but_not_content() -> None:
    base = parse_spec(MINIMAL)
    assert base.plan_fingerprint() == parse_spec(MINIMAL.replace("3", "30")).plan_fingerprint()
    assert base.plan_fingerprint() == parse_spec(MINIMAL + "concurrency: 2\n").plan_fingerprint()
    budget = parse_spec(MINIMAL + "budget: {max_tokens: 1000}\n")
    assert budget.budget.max_tokens == 1000 and base.plan_fingerprint() == budget.plan_fingerprint()
    assert base.plan_fingerprint() != parse_spec(MINIMAL + "seed: 1\n").plan_fingerprint()
    assert (
        base.plan_fingerprint() != parse_spec(MINIMAL.replace("asthma", "gout")).plan_fingerprint()
    )


def test_starter_and_example_specs_validate() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in [root / "synthloom/templates/spec.yaml", *root.glob("examples/*/spec.yaml")]:
        assert load_spec(path).samples > 0


def test_replicas_are_further_servers_beside_a_base_url() -> None:
    pooled = parse_spec(
        MINIMAL + "models:\n  default: {provider: openai, base_url: 'http://a/v1', "
        "replicas: ['http://b/v1']}\n"
    )
    assert pooled.models.assistant.endpoints("unused") == ["http://a/v1", "http://b/v1"]
    with pytest.raises(SpecError, match="replicas"):
        parse_spec(MINIMAL + "models:\n  default: {replicas: ['http://b/v1']}\n")
