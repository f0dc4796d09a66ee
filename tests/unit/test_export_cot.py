"""CoT records export in both layouts and load with Hugging Face `datasets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest

from synthloom.core.errors import SynthloomError
from synthloom.core.layouts import render_cot
from synthloom.export import export_run

STEPS = ["Total dose is 0.5 x 70 = 35 units.", "Basal is half of that: 17.5 units."]


def cot_run(tmp_path: Path, n: int = 3) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "samples.jsonl", "w") as out:
        for i in range(n):
            cot: dict[str, Any] = {
                "question": f"Q{i}?",
                "steps": STEPS,
                "answer": f"{17 + i} units",
                "layout": "think",
            }
            record = {
                "messages": [
                    {"role": "user", "content": cot["question"]},
                    {"role": "assistant", "content": render_cot(STEPS, cot["answer"], "think")},
                ],
                "metadata": {"id": f"id{i}", "topic": "insulin", "task": "cot", "cot": cot},
            }
            out.write(json.dumps(record) + "\n")
    return run


@pytest.mark.parametrize("layout", ["think", "steps"])
def test_cot_layouts_load_with_datasets(tmp_path: Path, layout: str) -> None:
    run = cot_run(tmp_path)
    dest, count = export_run(run, "openai", tmp_path / f"{layout}.jsonl", layout=layout)
    assert count == 3
    loaded = datasets.load_dataset("json", data_files=str(dest), split="train")
    assert loaded.num_rows == 3
    assistant = loaded[1]["messages"][1]["content"]
    assert assistant == render_cot(STEPS, "18 units", layout)  # type: ignore[arg-type]
    assert ("<think>" in assistant) == (layout == "think")
    assert loaded[1]["messages"][0] == {"role": "user", "content": "Q1?"}


def test_sharegpt_and_hf_exports(tmp_path: Path) -> None:
    run = cot_run(tmp_path, n=2)
    dest, count = export_run(run, "sharegpt", layout="steps")
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert count == 2 and rows[0]["conversations"][0] == {"from": "human", "value": "Q0?"}
    assert rows[0]["conversations"][1]["value"].endswith("Answer: 17 units")
    folder, count = export_run(run, "hf")
    loaded = datasets.load_from_disk(str(folder))
    assert loaded.num_rows == 2 and json.loads(loaded[0]["metadata"])["cot"]["answer"] == "17 units"


def test_unknown_layout_and_format_are_refused(tmp_path: Path) -> None:
    run = cot_run(tmp_path, n=1)
    with pytest.raises(SynthloomError, match="unknown layout"):
        export_run(run, "openai", layout="xml")
    with pytest.raises(SynthloomError, match="unknown export format"):
        export_run(run, "csv")
    with pytest.raises(SynthloomError, match="no samples.jsonl"):
        export_run(tmp_path, "openai")
