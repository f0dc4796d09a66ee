"""The README's first command for real: the example spec on the embedded model.

SmolLM2-135M is served by llama.cpp (xllamacpp) on loopback and reached through
the same ChatOpenAI path as any endpoint; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "clinic-dialogue" / "spec.yaml"
CLI = [sys.executable, "-c", "from synthloom.cli import main; main()"]


def embedded_servers_of(parent: int) -> list[int]:
    """Pids of embedded-model children started by `parent` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agents.embedded" in argv and str(parent).encode() in argv:
            found.append(int(entry.name))
    return found


def test_example_runs_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [*CLI, "run", str(EXAMPLE), "--samples", "2", "--output", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "run.json").read_text())
    counts = manifest["counts"]
    # Two slots; the example gives a rejected slot one replacement on its leaf.
    assert 2 <= counts["requested"] <= 4 and counts["pending"] == 0
    assert counts["accepted"] + counts["rejected"] + counts["failed"] == counts["requested"]
    assert counts["failed"] == 0  # the embedded server answered every request
    assert manifest["usage"]["calls"] >= 2 and manifest["usage"]["completion_tokens"] > 0
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert len(samples) == counts["accepted"] and len(rejects) == counts["rejected"]
    first_tries_lost = sum(1 for r in rejects if r["plan"]["attempt"] == 0)
    assert counts["requested"] == 2 + first_tries_lost
    for record in samples:
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert all(m["content"].strip() for m in record["messages"])
        assert record["metadata"]["models"]["assistant"] == "smollm2-135m"
    for reject in rejects:
        assert reject["reason"]


def test_killed_run_leaves_no_model_server_behind(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [*CLI, "run", str(EXAMPLE), "--output", str(tmp_path / "run"), "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not embedded_servers_of(run.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        children = embedded_servers_of(run.pid)
        assert children, "the embedded server never started"
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the embedded server outlived the killed run"


def test_the_servers_repeat_penalty_is_the_default_a_request_can_override() -> None:
    import httpx

    from agents.embedded import EmbeddedServer, resolve_model_path
    from synthloom.core.modelspec import EMBEDDED_MODEL, EmbeddedServerSpec

    messages = [{"role": "user", "content": "Why does blood pressure matter? Say it twice."}]

    def reply(url: str, **extra: float) -> str:
        body = {"model": "m", "messages": messages, "temperature": 0, "max_tokens": 60, **extra}
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=120).json()
        return str(answer["choices"][0]["message"]["content"])

    path = resolve_model_path(EMBEDDED_MODEL)
    with EmbeddedServer(path, EmbeddedServerSpec(repeat_penalty=1.0, parallel=1), None) as s:
        plain, asked = reply(s.base_url), reply(s.base_url, repeat_penalty=1.3)
    with EmbeddedServer(path, EmbeddedServerSpec(repeat_penalty=1.3, parallel=1), None) as s:
        by_default = reply(s.base_url)
    assert asked != plain  # the penalty changes greedy decoding at all
    assert by_default == asked  # the server's setting is what a bare request gets


def test_preview_of_the_example_plays_one_sample_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "preview", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # The example's output folder is relative to where it runs: preview never makes it.
    assert not (tmp_path / "runs" / "clinic-dialogue").exists()
    assert "call 1 · simulate_user" in done.stdout
    assert "nothing written to runs/clinic-dialogue" in done.stdout
    assert "whole run at this sample's rate" in done.stdout
