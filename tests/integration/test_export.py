"""`synthloom export` of a real run: OpenAI JSONL, ShareGPT JSONL and a Hugging Face dataset."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    CLI_PREFIX,
    assert_counts_consistent,
    cli,
    make_spec,
    read_jsonl,
    run_dataset,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

SHAREGPT_ROLE = {"user": "human", "assistant": "gpt"}


@pytest.fixture
async def finished_run(server: ScriptedOpenAIServer, tmp_path: Path) -> Path:
    """A run with 3 accepted samples and 1 rejected one (exports must leave it out)."""
    server.malformed_next(1)  # the first sample's only user-simulator try is broken
    output = tmp_path / "run"
    spec = make_spec(server.base_url, output, samples=4, concurrency=1, max_reasks=0)
    await run_dataset(spec)
    counts = assert_counts_consistent(output, requested=4)
    assert counts["accepted"] == 3 and counts["rejected"] == 1
    return output


def test_export_formats(finished_run: Path, tmp_path: Path) -> None:
    import datasets

    records = read_jsonl(finished_run / "samples.jsonl")
    assert len(records) == 3
    sharegpt_path = tmp_path / "elsewhere" / "train.sharegpt.jsonl"
    commands = {
        "openai": ["export", str(finished_run), "--format", "openai"],
        "sharegpt": ["export", str(finished_run), "-f", "sharegpt", "--to", str(sharegpt_path)],
        "hf": ["export", str(finished_run), "--format", "hf"],
    }
    procs = {
        fmt: subprocess.Popen(
            [*CLI_PREFIX, *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for fmt, args in commands.items()
    }
    results: dict[str, tuple[int, str]] = {}
    for fmt, proc in procs.items():
        _, stderr = proc.communicate(timeout=120)
        results[fmt] = (proc.returncode, stderr)
    for fmt, (code, stderr) in results.items():
        assert code == 0, stderr
        assert "Traceback" not in stderr
        assert f"exported 3 samples as {fmt}" in " ".join(stderr.split())

    # OpenAI chat JSONL: the accepted records, as they are.
    openai_path = finished_run / "export" / "openai.jsonl"
    exported = read_jsonl(openai_path)
    assert exported == records
    for row in exported:
        assert set(row) == {"messages", "metadata"}
        assert [m["role"] for m in row["messages"]][:2] == ["system", "user"]

    # ShareGPT: human/gpt conversations, the system prompt apart, same text and order.
    shared = read_jsonl(sharegpt_path)
    assert len(shared) == 3
    for row, record in zip(shared, records, strict=True):
        messages = record["messages"]
        assert row["system"] == messages[0]["content"]
        assert row["conversations"] == [
            {"from": SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in messages[1:]
        ]
        assert row["conversations"][0]["from"] == "human"
        assert row["conversations"][-1]["from"] == "gpt"
        assert row["metadata"]["id"] == record["metadata"]["id"]

    # Hugging Face: a saved dataset with one row per accepted sample.
    hf = datasets.load_from_disk(str(finished_run / "export" / "hf"))
    assert hf.num_rows == 3
    assert {"id", "messages", "topic", "metadata"} <= set(hf.column_names)
    assert hf["id"] == [r["metadata"]["id"] for r in records]
    assert hf[0]["messages"] == records[0]["messages"]
    assert json.loads(hf[2]["metadata"]) == records[2]["metadata"]

    # The OpenAI JSONL is loadable as a JSON dataset too.
    loaded: Any = datasets.load_dataset(
        "json", data_files=str(openai_path), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == 3
    assert "messages" in loaded.column_names
    assert loaded[1]["messages"] == records[1]["messages"]


def test_export_errors_are_one_clear_message(finished_run: Path, tmp_path: Path) -> None:
    bad_format = cli("export", str(finished_run), "--format", "csv", cwd=tmp_path)
    assert bad_format.returncode == 2
    assert "Traceback" not in bad_format.stderr
    assert "unknown export format 'csv'" in " ".join(bad_format.stderr.split())
    assert not (finished_run / "export").exists()

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    missing = cli("export", str(not_a_run), "--format", "openai", cwd=tmp_path)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert "no samples.jsonl here" in " ".join(missing.stderr.split())
    assert list(not_a_run.iterdir()) == []


def test_export_takes_the_curated_set_once_there_is_one(finished_run: Path, tmp_path: Path) -> None:
    records = read_jsonl(finished_run / "samples.jsonl")
    before = cli("export", str(finished_run), "--format", "openai", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "from the generated set" in " ".join(before.stderr.split())
    assert len(read_jsonl(finished_run / "export" / "openai.jsonl")) == 3
    no_curated = cli("export", str(finished_run), "--set", "curated", cwd=tmp_path)
    assert no_curated.returncode == 2
    assert "no curated set here yet" in " ".join(no_curated.stderr.split())

    # What `synthloom curate` leaves: the kept samples, then its summary last.
    curated = finished_run / "curated"
    curated.mkdir()
    (curated / "samples.jsonl").write_text(json.dumps(records[1]) + "\n", encoding="utf-8")
    (curated / "curation.json").write_text("{}", encoding="utf-8")
    after = cli("export", str(finished_run), "--format", "openai", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    said = " ".join(after.stderr.split())
    assert "exported 1 samples as openai from the curated set" in said
    assert read_jsonl(finished_run / "export" / "openai.jsonl") == [records[1]]
    generated = cli("export", str(finished_run), "-f", "openai", "--set", "generated", cwd=tmp_path)
    assert "exported 3 samples as openai from the generated set" in " ".join(
        generated.stderr.split()
    )
    assert read_jsonl(finished_run / "export" / "openai.jsonl") == records
