"""Whole dialogue runs over real conversations (ShareGPT holdout), replayed over HTTP.

The quality gates were fitted on the dump's other half; here a run whose endpoint
answers with real people's and a strong assistant's turns must keep nearly all of
them, and the same conversations with planted failures must keep none of those.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from synthloom.spec import RunSpec, parse_spec
from tests.integration.conftest import assert_counts_consistent, read_jsonl, run_dataset
from tests.support import corruptions
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.replay import Replay, read_conversations

pytestmark = pytest.mark.integration

HOLDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "sharegpt_holdout.jsonl.gz"
ROUNDS = 2


def replay_spec(
    base_url: str, output: Path, count: int, *, cut_off: bool = False, max_tokens: int = 4096
) -> RunSpec:
    topics = "\n".join(f"  - replay {i}" for i in range(count))
    text = f"""\
task: dialogue
samples: {count}
seed: 3
output: {json.dumps(str(output))}
concurrency: 4
topics:
{topics}
dialogue:
  rounds: {{min: {ROUNDS}, max: {ROUNDS}}}
  checks: {{cut_off: {"true" if cut_off else "false"}}}
novelty: {{enabled: false}}
models:
  default:
    provider: openai
    base_url: {json.dumps(base_url)}
    model: scripted-model
    max_tokens: {max_tokens}
    timeout: 10
"""
    return parse_spec(text, source="replay-spec.yaml")


def _opening(conversation: list[dict[str, str]]) -> list[dict[str, str]]:
    return conversation[: 2 * ROUNDS]


async def test_a_run_over_real_conversations_keeps_nearly_all_of_them(tmp_path: Path) -> None:
    conversations = read_conversations(HOLDOUT)[:60]
    output = tmp_path / "run"
    with ScriptedOpenAIServer(responder=Replay(conversations)) as server:
        result = await run_dataset(replay_spec(server.base_url, output, len(conversations)))
    assert result.status == "completed"
    counts = assert_counts_consistent(output, requested=len(conversations))
    # Measured: 0 or 1 of these 60 rejected; the benchmark gives the rate on all 300.
    assert counts["accepted"] >= 0.95 * len(conversations), read_jsonl(output / "rejects.jsonl")
    by_topic = {f"replay {i}": c for i, c in enumerate(conversations)}
    for record in read_jsonl(output / "samples.jsonl"):
        turns = [m for m in record["messages"] if m["role"] != "system"]
        expected = _opening(by_topic[record["metadata"]["topic"]])
        assert turns == expected  # the real turns, unchanged, in order


def _planted(
    rng: random.Random, pool: list[list[dict[str, str]]]
) -> list[tuple[str, list[dict[str, str]]]]:
    """Conversations with one failure of each kind planted in their first two rounds."""
    out = []
    kinds = {
        "role_flip": (corruptions.flip_user, corruptions.flip_assistant),
        "loop": (corruptions.loop,),
        "echo": (corruptions.echo,),
        "repeat": (corruptions.repeat,),
        "placeholder": (corruptions.placeholder,),
        "prompt_leak": (corruptions.prompt_leak,),
        "empty": (corruptions.empty,),
        "truncated": (corruptions.truncate,),
    }
    for kind, generators in kinds.items():
        made = 0
        while made < 3:
            convo = [dict(m) for m in rng.choice(pool)]
            at = rng.randrange(1, 2 * ROUNDS)
            if rng.choice(generators)(convo, at, rng, pool) is None:
                continue
            out.append((kind, convo))
            made += 1
    return out


async def test_planted_failures_never_reach_the_accepted_samples(tmp_path: Path) -> None:
    pool = [c for c in read_conversations(HOLDOUT)[60:] if len(c) >= 2 * ROUNDS]
    planted = _planted(random.Random(5), pool)
    output = tmp_path / "run"
    # Text that stops mid-sentence is only visible to the cut_off check (a server that
    # cuts at max_tokens says so in finish_reason; the other test covers that path).
    conversations = [convo for _, convo in planted]
    with ScriptedOpenAIServer(responder=Replay(conversations)) as server:
        spec = replay_spec(server.base_url, output, len(conversations), cut_off=True)
        result = await run_dataset(spec)
    assert result.status == "completed"
    counts = assert_counts_consistent(output, requested=len(conversations))
    assert counts["accepted"] == 0, read_jsonl(output / "samples.jsonl")
    rejects = read_jsonl(output / "rejects.jsonl")
    codes = {r["reason_code"] for r in rejects}
    assert {"role_flip", "loop", "placeholder", "prompt_leak", "empty", "cut_off"} <= codes
    assert codes & {"echo", "repeat"}


async def test_an_answer_cut_at_max_tokens_is_rejected_as_truncated(tmp_path: Path) -> None:
    conversations = [c for c in read_conversations(HOLDOUT) if len(c[1]["content"].split()) > 80]
    conversations = conversations[:3]
    output = tmp_path / "run"
    with ScriptedOpenAIServer(responder=Replay(conversations)) as server:
        await run_dataset(replay_spec(server.base_url, output, len(conversations), max_tokens=40))
    rejects = read_jsonl(output / "rejects.jsonl")
    assert len(rejects) == 3
    assert {r["reason_code"] for r in rejects} == {"truncated"}
