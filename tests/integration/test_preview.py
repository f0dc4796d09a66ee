"""`synthloom preview`: one sample played over real HTTP, nothing written to the run folder."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    CLI_PREFIX,
    cli,
    is_user_sim_request,
    make_spec,
    run_dataset,
    spec_yaml,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes (empty when it does not exist)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def record_of(stdout: str) -> dict[str, Any]:
    """The JSON record preview prints between its 'record' and 'cost' rules."""
    body = stdout.split("it would write", 1)[1].split("\n", 1)[1]
    text = body.rsplit("─── cost", 1)[0].rsplit("\n", 1)[0]
    loaded: dict[str, Any] = json.loads(text[: text.rindex("}") + 1])
    return loaded


def test_preview_plays_one_sample_shows_each_call_and_writes_nothing(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec_file = tmp_path / "spec.yaml"
    text = spec_yaml(server.base_url, output, samples=6, rounds=(2, 2))
    priced = "pricing: {models: {scripted-model: {input_per_1m: 2.0, output_per_1m: 8.0}}}\n"
    spec_file.write_text(text + priced)
    # The first assistant answer is blank: the check sends it back, the next ones stand.
    answers = iter(
        [
            " ",
            "Start with an endurance frame in your size; test-ride two or three at a shop.",
            "Budget for a helmet, lights and a lock too, about a fifth of the bike's price.",
        ]
    )

    def responder(body: dict[str, Any]) -> str | None:
        return None if is_user_sim_request(body) else next(answers, None)

    server.responder = responder
    done = cli("preview", str(spec_file), "--index", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert not output.exists()
    plan = make_spec(server.base_url, output, samples=6, rounds=(2, 2))
    assert "plan 2 of 6" in text
    # Each call: its number, node and model, the prompt as sent, latency and tokens.
    assert "call 1 · simulate_user · scripted-model" in text
    assert "call 2 · respond · scripted-model" in text
    assert f"system: {plan.dialogue.assistant_system_prompt}" in text
    assert " prompt + " in text and " completion tokens" in text
    assert "▸ respond: regenerate — empty assistant turn" in text
    # Every call that went over the wire is shown, numbered in order, with its node.
    sent = len(server.request_log)
    calls = re.findall(r"call (\d+) · (\w+) · scripted-model", text)
    assert [int(n) for n, _ in calls] == list(range(1, sent + 1)) and sent >= 3
    assert [node for _, node in calls[:3]] == ["simulate_user", "respond", "respond"]
    record = record_of(text)
    # How the sample ends is the turn checks' call; the preview shows whichever it is.
    if "▸ finish: sample completed (budget)" in text:
        meta = record["metadata"]
        assert meta["index"] == 2 and meta["regenerations"] >= 1
        assert [m["role"] for m in record["messages"]][:3] == ["system", "user", "assistant"]
        usage = meta["usage"]
        assert f"completed: {sent} model calls" in text
    else:
        assert "sample rejected — " in text
        assert record["status"] == "rejected" and record["plan"]["index"] == 2
        usage = record["usage"]
        assert f"rejected: {sent} model calls" in text
    assert usage["calls"] == sent and f"nothing written to {output}" in text
    assert "cost: 12–24 model calls for 6 samples" in text
    money = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1e6
    assert f"money: {money:.4f} for this sample → about {money * 6:.2f} for 6 samples" in text


async def test_preview_leaves_an_existing_run_folder_as_it_was(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=3)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec_yaml(server.base_url, output, samples=3))
    result = await run_dataset(spec.model_copy(update={"samples": 2}))
    assert result.status == "completed"
    before = snapshot(output)
    assert "samples.jsonl" in before
    done = cli("preview", str(spec_file), "--index", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert snapshot(output) == before
    assert "measured: 2 samples finished in the output folder" in done.stdout
    assert "money: a model has no price" in done.stdout


def test_preview_names_a_plan_the_spec_does_not_have(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec_yaml(server.base_url, tmp_path / "run", samples=3))
    done = cli("preview", str(spec_file), "--index", "3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--index: " + str(spec_file) + " plans samples 0..2")
    assert server.request_log == []


def test_interactive_preview_pauses_before_each_call_and_q_stops_it(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec_yaml(server.base_url, tmp_path / "run", samples=3, rounds=(1, 1)))
    args = [*CLI_PREFIX, "preview", str(spec_file), "--interactive"]
    go = subprocess.run(
        args, input="\n" * 8, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert go.returncode == 0, go.stderr
    assert "send call 1? [Enter/q]" in go.stdout and "send call 2? [Enter/q]" in go.stdout
    # One pause per call, each before the call went out.
    sent = len(server.request_log)
    assert sent >= 2 and go.stdout.count("? [Enter/q]") == sent
    stop = subprocess.run(
        args, input="\nq\n", capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert stop.returncode == 0, stop.stderr
    # Stopped at the second pause: one more call went out, the second never did.
    assert len(server.request_log) == sent + 1
    assert "send call 2?" in stop.stdout and "call 3" not in stop.stdout
    assert "it would write" not in stop.stdout


def test_preview_plays_a_chain_of_thought_sample_node_by_node(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    spec_file = tmp_path / "cot.yaml"
    text = spec_yaml(server.base_url, tmp_path / "run", samples=3)
    spec_file.write_text(text.replace("task: dialogue", "task: cot"))
    done = cli("preview", str(spec_file), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "call 1 · write_question · scripted-model" in out
    assert "▸ write_question: question accepted" in out
    assert "call 2 · reason_step" in out and "▸ check_step: step 1 accepted" in out
    sent = len(server.request_log)
    assert len(re.findall(r"call \d+ · \w+ · scripted-model", out)) == sent
    assert f"{sent} model calls" in out and not (tmp_path / "run").exists()
