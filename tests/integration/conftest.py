"""Shared helpers: a scripted OpenAI-compatible server, spec text, runs and output checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.endpoints import open_models
from synthloom.core.records import Plan
from synthloom.planning import make_plans
from synthloom.runner import DatasetRun, RunResult
from synthloom.spec import RunSpec, parse_spec
from tests.support.openai_server import ScriptedOpenAIServer

ROLES = ("user_simulator", "assistant")
CLI_PREFIX = [sys.executable, "-c", "from synthloom.cli import main; main()"]


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    """A fresh scripted server on 127.0.0.1 per test."""
    with ScriptedOpenAIServer() as srv:
        yield srv


def spec_yaml(
    base_url: str,
    output: Path,
    *,
    samples: int = 4,
    concurrency: int = 2,
    rounds: tuple[int, int] = (1, 2),
    timeout: float = 5.0,
    max_retries: int = 2,
    max_reasks: int = 2,
    seed: int = 11,
    include_system_prompt: bool = True,
    novelty: bool = False,
) -> str:
    """Spec YAML text for a small dialogue run against `base_url`.

    The novelty gate is off unless asked for: the scripted server answers equal prompts
    equally, so two plans of one topic and cell are one dialogue, which the gate refuses
    (tests/integration/test_novelty_http.py tests it; other tests count every plan).
    """
    return f"""\
task: dialogue
samples: {samples}
seed: {seed}
output: {json.dumps(str(output))}
concurrency: {concurrency}
topics:
  - Sleep hygiene for night-shift nurses
  - Choosing a first road bicycle
  - Repotting a root-bound houseplant
conditions:
  persona:
    - a retired schoolteacher
    - a university student on a budget
    - a parent of two toddlers
  tone: {{curious and chatty: 2, blunt and skeptical: 1}}
dialogue:
  rounds: {{min: {rounds[0]}, max: {rounds[1]}}}
  include_system_prompt: {"true" if include_system_prompt else "false"}
  max_reasks: {max_reasks}
  assistant_system_prompt: You are a patient, practical assistant.
novelty: {{enabled: {"true" if novelty else "false"}}}
models:
  default:
    provider: openai
    base_url: {json.dumps(base_url)}
    model: scripted-model
    temperature: 0.7
    max_tokens: 200
    timeout: {timeout}
    max_retries: {max_retries}
"""


def make_spec(base_url: str, output: Path, **kwargs: Any) -> RunSpec:
    """A validated spec built from `spec_yaml`."""
    return parse_spec(spec_yaml(base_url, output, **kwargs), source="test-spec.yaml")


async def run_dataset(spec: RunSpec, *, retry_failed: bool = False) -> RunResult:
    """One in-process run over real HTTP, as the CLI does it."""
    with open_models(spec, ROLES) as models:
        job = DatasetRun(spec, models, show_progress=False, retry_failed=retry_failed)
        return await job.run()


# An outline of 8 leaves under 3 topics, for runs planned over a concept tree.
OUTLINE = """\
Everyday health:
  Sleep: [Insomnia, Night shifts, Napping]
  Food: [Breakfast habits, Reading labels]
  Movement: [Desk stretches, Walking more, Back pain]
"""
OUTLINE_LEAVES = 8


def tree_spec(base_url: str, tmp: Path, *, samples: int, replacements: int = 0) -> RunSpec:
    """The integration spec with its flat topics swapped for the 8-leaf `OUTLINE` tree."""
    outline = tmp / "outline.yaml"
    outline.write_text(OUTLINE, encoding="utf-8")
    text = spec_yaml(base_url, tmp / "run", samples=samples, concurrency=4, max_reasks=0)
    head, _, rest = text.partition("topics:\n")
    rest = rest.split("conditions:", 1)[1]
    text = (
        f"{head}concepts: {{tree: {json.dumps(str(outline))}}}\n"
        f"coverage: {{replacements: {replacements}}}\nconditions:{rest}"
    )
    return parse_spec(text, source="tree-spec.yaml")


def plans_of(spec: RunSpec) -> list[Plan]:
    """The deterministic plans of the spec."""
    return list(make_plans(spec))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file parsed (fails on any torn or broken line)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path} does not end with a newline"
    return [json.loads(line) for line in text.splitlines()]


def read_manifest(output: Path) -> dict[str, Any]:
    """run.json of a run folder."""
    manifest: dict[str, Any] = json.loads((output / "run.json").read_text(encoding="utf-8"))
    return manifest


def assert_counts_consistent(output: Path, requested: int) -> dict[str, int]:
    """run.json counts add up and agree with the files on disk; returns the counts."""
    counts: dict[str, int] = read_manifest(output)["counts"]
    assert counts["requested"] == requested
    assert counts["requested"] == (
        counts["accepted"] + counts["rejected"] + counts["failed"] + counts["pending"]
    )
    samples = read_jsonl(output / "samples.jsonl")
    rejects = read_jsonl(output / "rejects.jsonl")
    assert counts["accepted"] == len(samples)
    assert counts["rejected"] == sum(1 for r in rejects if r["status"] == "rejected")
    assert counts["failed"] == sum(1 for r in rejects if r["status"] == "failed")
    return counts


def assert_chat_record(record: dict[str, Any], spec: RunSpec, plan: Plan) -> None:
    """An accepted record is an OpenAI chat sample that matches its plan."""
    messages = record["messages"]
    meta = record["metadata"]
    assert meta["id"] == plan.id
    assert meta["topic"] == plan.topic
    assert meta["conditions"] == plan.conditions
    turns = messages
    if spec.dialogue.include_system_prompt:
        assert messages[0]["role"] == "system"
        assert spec.dialogue.assistant_system_prompt in messages[0]["content"]
        turns = messages[1:]
    assert all(m["role"] != "system" for m in turns)
    assert [m["role"] for m in turns] == ["user", "assistant"] * (len(turns) // 2)
    assert len(turns) % 2 == 0 and turns[-1]["role"] == "assistant"
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in turns)
    rounds = sum(1 for m in turns if m["role"] == "assistant")
    assert rounds == meta["rounds"]
    assert spec.dialogue.rounds.min <= rounds <= spec.dialogue.rounds.max
    assert meta["usage"]["total_tokens"] > 0
    assert meta["usage"]["total_tokens"] == (
        meta["usage"]["prompt_tokens"] + meta["usage"]["completion_tokens"]
    )


def is_user_sim_request(body: dict[str, Any]) -> bool:
    """The user simulator asks for structured JSON; the assistant does not."""
    return isinstance(body.get("response_format"), dict)


def cli(
    *args: str, cwd: Path, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `synthloom` CLI entry point in a subprocess and capture its output."""
    return subprocess.run(
        [*CLI_PREFIX, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        check=False,
    )


def cli_popen(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start the CLI without waiting (stdout/stderr captured)."""
    return subprocess.Popen(
        [*CLI_PREFIX, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
