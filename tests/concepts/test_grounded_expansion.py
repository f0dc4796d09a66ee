"""Concept expansion from `run` and `tree expand` is grounded: ingest first, then retrieve."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from synthloom.cli_tree import tree_app
from synthloom.run_tree import prepare_run_tree
from synthloom.spec import parse_spec
from tests.concepts.scripted import ScriptedChatModel, taxonomy_answer

SOURCE = (
    Path(__file__).resolve().parents[2] / "examples/clinic-dialogue/knowledge/type-2-diabetes.md"
)
# Lines of the source: they can reach an expander prompt only through retrieval.
LINES = [line for line in SOURCE.read_text(encoding="utf-8").splitlines() if len(line) > 60]

SPEC = """
samples: 4
output: {output}
concepts:
  seeds: [Type 2 diabetes]
  root: Chronic disease care
  expand: {{max_depth: 2, children_per_node: 3}}
knowledge: {{path: {kb}, sources: [{source}]}}
models:
  default: {{provider: openai, base_url: "http://model.test/v1", model: scripted}}
"""


def spec_text(tmp_path: Path) -> str:
    return SPEC.format(output=tmp_path / "run", kb=tmp_path / "kb", source=SOURCE)


def prompts_of(model: ScriptedChatModel) -> list[str]:
    return [str(m.content) for messages in model.prompts for m in messages]


def grounded(prompt: str) -> bool:
    return any(line in prompt for line in LINES)


async def test_a_run_ingests_then_grows_its_tree_with_retrieved_passages(tmp_path: Path) -> None:
    spec = parse_spec(spec_text(tmp_path))
    model = ScriptedChatModel(taxonomy_answer)
    tree = await prepare_run_tree(spec, model, Console(quiet=True))
    assert tree is not None and len(tree) > 2
    assert model.calls >= 1
    # Every node's proposal was shown passages of the ingested source.
    assert all(grounded(text) for text in prompts_of(model))
    assert (tmp_path / "kb").is_dir()


def test_tree_expand_ingests_then_grows_with_retrieved_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ScriptedChatModel] = []

    @contextmanager
    def open_models(spec: Any, roles: tuple[str, ...], log_dir: Any = None) -> Iterator[Any]:
        model = ScriptedChatModel(taxonomy_answer)
        made.append(model)
        yield {role: model for role in roles}

    monkeypatch.setattr("agents.endpoints.open_models", open_models)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tmp_path), encoding="utf-8")
    result = CliRunner().invoke(tree_app, ["expand", str(spec), "--no-embeddings"])
    assert result.exit_code == 0, result.output
    assert made and made[0].calls >= 1
    assert all(grounded(text) for text in prompts_of(made[0]))
