"""`synthloom curate` and `report` on data a user already has, not only run folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.imported import default_folder
from tests.quality.test_checks_eval import GOOD, LOOPING, write_jsonl

runner = CliRunner()

ROWS = [
    {"messages": GOOD},
    {"messages": [GOOD[0], {"role": "assistant", "content": LOOPING}]},
    {
        "messages": [
            {"role": "user", "content": "What should I eat before a long morning run?"},
            {"role": "assistant", "content": "A banana and toast an hour before you start."},
        ]
    },
]


def test_a_chat_file_is_curated_with_a_ledger_of_its_own(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    result = runner.invoke(app, ["curate", str(data), "--no-llm"])
    assert result.exit_code == 0, result.output
    folder = default_folder(data)
    assert folder == tmp_path / "mine.synthloom"
    curation = json.loads((folder / "curated" / "curation.json").read_text())
    counts = curation["counts"]
    assert counts["requested"] == 3
    assert counts["requested"] == counts["accepted"] + counts["rejected"] + counts["failed"]
    assert counts["rejected"] == 1  # the looping answer
    kept = [json.loads(x) for x in (folder / "curated" / "samples.jsonl").read_text().splitlines()]
    assert [r["messages"] for r in kept] == [ROWS[0]["messages"], ROWS[2]["messages"]]
    # Again: the folder is reused, nothing is imported or counted twice.
    again = runner.invoke(app, ["curate", str(data), "--no-llm"])
    assert again.exit_code == 0, again.output
    counts = json.loads((folder / "curated" / "curation.json").read_text())["counts"]
    assert counts["requested"] == 3
    report = runner.invoke(app, ["report", str(data), "--embedder", "lexical"])
    assert report.exit_code == 0, report.output
    figures = json.loads((folder / "report" / "report.json").read_text())
    assert "distinct" in json.dumps(figures)


def test_a_changed_file_is_not_mixed_with_its_old_folder(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    assert runner.invoke(app, ["curate", str(data), "--no-llm"]).exit_code == 0
    write_jsonl(data, ROWS[:1])
    os.utime(data, (1, 1))
    result = runner.invoke(app, ["curate", str(data), "--no-llm"])
    assert result.exit_code != 0
    assert "earlier version" in str(result.exception or result.output)
