"""`synthloom checks eval` and the dataset readers: figures that add up, on every format."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthloom.chatdata import read_chats
from synthloom.checks_eval import evaluate
from synthloom.cli import app
from synthloom.core.errors import ChatDataError

runner = CliRunner()

GOOD = [
    {"role": "user", "content": "How long should I boil an egg for a runny yolk?"},
    {"role": "assistant", "content": "About six minutes from boiling water, then cool it."},
]
LOOPING = "Keep the water boiling. " * 6
RECORDS = [
    {"messages": GOOD},
    {"messages": [GOOD[0], {"role": "assistant", "content": LOOPING, "label": "loop"}]},
    {"messages": [{"role": "user", "content": "", "label": "empty"}, GOOD[1]]},
    # A failure no check sees: a plain, wrong answer labelled as a role flip.
    {"messages": [GOOD[0], {**GOOD[1], "label": "role_flip"}]},
]


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def test_labelled_figures_count_catches_misses_and_false_alarms(tmp_path: Path) -> None:
    report = evaluate(read_chats(write_jsonl(tmp_path / "set.jsonl", RECORDS))).as_dict()
    assert report["dialogues"] == 4
    assert report["kinds"]["loop"]["recall"] == 1.0
    assert report["kinds"]["empty"]["recall"] == 1.0
    assert report["kinds"]["role_flip"]["recall"] == 0.0
    assert report["recall"] == pytest.approx(2 / 3, abs=1e-3)
    assert report["checks"]["loop"]["on_failures"] == 1
    assert report["checks"]["loop"]["precision"] == 1.0
    # The unlabelled record is the only good dialogue, and nothing flags it.
    assert report["good_dialogues"] == 1 and report["good_dialogue_flag_rate"] == 0.0


def test_sharegpt_gzip_and_json_array_read_the_same(tmp_path: Path) -> None:
    sharegpt = [
        {
            "id": f"c{i}",
            "conversations": [
                {"from": "human", "value": m["content"]}
                if m["role"] == "user"
                else {"from": "gpt", "value": m["content"]}
                for m in r["messages"]
            ],
        }
        for i, r in enumerate(RECORDS)
    ]
    gz = write_jsonl(tmp_path / "sg.jsonl.gz", sharegpt)
    array = tmp_path / "sg.json"
    array.write_text(json.dumps(sharegpt), encoding="utf-8")
    from_gz = [c.messages for c in read_chats(gz)]
    from_array = [c.messages for c in read_chats(array)]
    assert from_gz == from_array
    assert [c.id for c in read_chats(gz)] == ["c0", "c1", "c2", "c3"]
    assert from_gz[1][1]["content"] == LOOPING


def test_a_hugging_face_folder_is_read(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf"
    datasets.Dataset.from_list([{"messages": GOOD}, {"messages": GOOD}]).save_to_disk(folder)
    assert [c.messages for c in read_chats(folder)] == [GOOD, GOOD]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"messages": [{"role": "robot", "content": "x"}]}', "line 1: message 1 has role"),
        ("not json", "line 1: not valid JSON"),
        ('{"text": "hello"}', "no `messages` (OpenAI) or `conversations` (ShareGPT) list"),
    ],
)
def test_bad_records_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(ChatDataError, match=re.escape(message)):
        list(read_chats(path))


def test_the_command_prints_the_tables_and_writes_json(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "set.jsonl", RECORDS)
    out = tmp_path / "figures.json"
    result = runner.invoke(app, ["checks", "eval", str(data), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Labelled failures" in result.output and "caught overall: 66.7%" in result.output
    assert json.loads(out.read_text())["kinds"]["loop"]["labelled"] == 1
    missing = runner.invoke(app, ["checks", "eval", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code != 0 and "no such file" in str(missing.exception or missing.output)


def test_the_shipped_holdout_is_mostly_left_alone() -> None:
    # The README's figures come from this file; a change to a check that starts
    # flagging real conversations fails here before it reaches a user's budget.
    holdout = Path(__file__).resolve().parents[2] / "benchmarks/data/sharegpt_holdout.jsonl.gz"
    report = evaluate(read_chats(holdout)).as_dict()
    rate = report["good_turn_flag_rate"]
    assert rate["user"] <= 0.05 and rate["assistant"] <= 0.03
    assert report["curation_good_drop_rate"] <= 0.05
