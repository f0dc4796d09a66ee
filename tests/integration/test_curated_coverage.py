"""Coverage after curation: dropped slots are refilled on their leaf by one more run + curate.

The judge is the scripted server: in the first curation it scores every fifth dialogue
it is shown 2 (dropped), the rest 4; later it keeps everything. So a first `synthloom
run` with a `curate:` block leaves four leaves one sample short, and the same command
once more must bring every leaf back to its quota, with both stages' ledgers exact.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    OUTLINE,
    OUTLINE_LEAVES,
    assert_counts_consistent,
    cli,
    read_jsonl,
    spec_yaml,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

PER_LEAF = 2


def judge(state: dict[str, Any]) -> Any:
    def responder(body: dict[str, Any]) -> str | None:
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        if schema.get("name") != "RubricVerdict":
            return None
        state["judged"] += 1
        score = 2 if not state["frozen"] and state["judged"] % 5 == 1 else 4
        return json.dumps(
            {
                "rationale": "Scripted verdict.",
                "criteria": [{"criterion": "helpfulness", "score": score}],
                "overall": score,
            }
        )

    return responder


def tree_spec_text(base_url: str, tmp: Path) -> str:
    outline = tmp / "outline.yaml"
    outline.write_text(OUTLINE, encoding="utf-8")
    # The gate on, as by default: a refill must not repeat the sample curation dropped.
    text = spec_yaml(
        base_url, tmp / "run", samples=PER_LEAF * OUTLINE_LEAVES, concurrency=4, novelty=True
    )
    head, _, rest = text.partition("topics:\n")
    rest = rest.split("conditions:", 1)[1]
    return (
        f"{head}concepts: {{tree: {json.dumps(str(outline))}}}\n"
        "coverage: {replacements: 2}\n"
        "curate:\n  dedup: {semantic: false}\n"
        f"conditions:{rest}"
    )


def kept_per_leaf(output: Path) -> Counter[str]:
    return Counter(r["metadata"]["leaf"] for r in read_jsonl(output / "curated" / "samples.jsonl"))


def test_slots_curation_dropped_are_refilled_on_their_leaf(tmp_path: Path) -> None:
    state = {"judged": 0, "frozen": False}
    output = tmp_path / "run"
    with ScriptedOpenAIServer(responder=judge(state)) as server:
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(tree_spec_text(server.base_url, tmp_path), encoding="utf-8")
        first = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        dropped = read_jsonl(output / "curated" / "rejects.jsonl")
        assert len(dropped) == 4  # a fifth (rounded down) of 16 judged samples
        short = {r["metadata"]["leaf"] for r in dropped}

        # Coverage now counts what curation kept: the dropped leaves are short, and say so.
        coverage = json.loads((output / "coverage.json").read_text(encoding="utf-8"))
        assert {leaf for leaf, c in coverage["leaves"].items() if c["accepted"] < PER_LEAF} == short
        assert coverage["totals"]["pending"] == 4 and coverage["totals"]["given_up"] == 0
        said = " ".join(first.stderr.split())
        # Which samples the judge drops depends on the order they reach it: a leaf may
        # lose one of its two, or both.
        lost = Counter(r["metadata"]["leaf"] for r in dropped)
        shown = cli("tree", "show", "--run", str(output), cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        for n in set(lost.values()):
            leaves = sum(1 for count in lost.values() if count == n)
            line = f"{PER_LEAF - n} of {PER_LEAF} kept; {n} to generate: `synthloom run` refills it"
            assert said.count(line) == leaves
            assert shown.stdout.count(f"[{PER_LEAF - n}/{PER_LEAF}]") == leaves

        # The same command again: replacements for the dropped slots, then curation.
        state["frozen"] = True
        judged_before = state["judged"]
        second = cli("run", str(spec_path), "--no-progress", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert state["judged"] - judged_before == 4  # only the replacements were judged

    assert kept_per_leaf(output) == Counter(dict.fromkeys(coverage["leaves"], PER_LEAF))
    samples = read_jsonl(output / "samples.jsonl")
    refills = [s["metadata"] for s in samples if s["metadata"].get("attempt")]
    assert Counter(m["leaf"] for m in refills) == Counter(r["metadata"]["leaf"] for r in dropped)
    assert {(m["index"], json.dumps(m["conditions"], sort_keys=True)) for m in refills} == {
        (r["metadata"]["index"], json.dumps(r["metadata"]["conditions"], sort_keys=True))
        for r in dropped
    }
    # Both ledgers add up: generation's over 20 requested, curation's over the same 20.
    assert_counts_consistent(output, requested=20)
    curation = json.loads((output / "curated" / "curation.json").read_text(encoding="utf-8"))
    c = curation["counts"]
    assert c["requested"] == 20 == c["accepted"] + c["rejected"] + c["failed"] + c["pending"]
    assert (c["accepted"], c["rejected"]) == (16, 4)
    final = json.loads((output / "coverage.json").read_text(encoding="utf-8"))
    assert final["totals"]["pending"] == 0 and final["balance"]["min"] == PER_LEAF
    assert "kept;" not in second.stderr
