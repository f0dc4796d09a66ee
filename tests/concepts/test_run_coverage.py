"""Coverage kept per node for a real run (scripted HTTP server): `coverage.json`, the
summary in `run.json`, and `synthloom tree stats|show --run` reading the run folder.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthloom.cli_tree import tree_app
from tests.integration.conftest import (
    OUTLINE_LEAVES,
    read_jsonl,
    read_manifest,
    run_dataset,
    tree_spec,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

LEAVES = OUTLINE_LEAVES


def breaking(share: float, seed: int) -> Any:
    """A responder that answers a `share` of user-simulator openings with broken JSON."""
    rng = random.Random(seed)

    def respond(body: dict[str, Any]) -> str | None:
        opening = isinstance(body.get("response_format"), dict) and len(body["messages"]) <= 2
        return "this is not JSON" if opening and rng.random() < share else None

    return respond


def stats_json(*args: str | Path) -> dict[str, Any]:
    result = CliRunner().invoke(tree_app, ["stats", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


async def test_coverage_file_matches_the_records_and_sums_up_the_tree(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(responder=breaking(0.2, seed=3)) as server:
        spec = tree_spec(server.base_url, tmp_path, samples=40, replacements=4)
        await run_dataset(spec)
    records = read_jsonl(spec.output / "samples.jsonl")
    rejects = read_jsonl(spec.output / "rejects.jsonl")
    assert rejects, "the responder should have cost some samples"
    document = json.loads((spec.output / "coverage.json").read_text(encoding="utf-8"))

    # Per leaf: exactly what the records say, every leaf listed.
    accepted = Counter(r["metadata"]["leaf"] for r in records)
    lost = Counter(r["plan"]["leaf"] for r in rejects)
    assert len(document["leaves"]) == LEAVES
    for leaf, counts in document["leaves"].items():
        assert counts["accepted"] == accepted[leaf]
        assert counts["rejected"] + counts["failed"] == lost[leaf]
        assert counts["topic"].count(" > ") == 1
    assert sum(c["planned"] for c in document["leaves"].values()) == 40
    # Inner nodes hold the sums of their children; the root the whole run.
    tree = json.loads((spec.output / "concepts.json").read_text(encoding="utf-8"))
    children: dict[str, list[str]] = {}
    for edge in tree["edges"]:
        children.setdefault(edge["source"], []).append(edge["target"])
    for parent, kids in children.items():
        for key in ("planned", "accepted", "rejected"):
            total = sum(document["nodes"][k][key] for k in kids)
            assert document["nodes"][parent][key] == total
    assert document["totals"]["accepted"] == len(records) == 40
    assert document["totals"]["given_up"] == document["totals"]["pending"] == 0
    assert document["balance"]["max_deviation"] <= 0.1
    # Cells: each persona's accepted count, as in the records.
    personas = Counter(r["metadata"]["conditions"]["persona"] for r in records)
    by_persona: Counter[str] = Counter()
    for key, counts in document["cells"].items():
        by_persona[json.loads(key)["persona"]] += counts["accepted"]
    assert by_persona == personas

    summary = read_manifest(spec.output)["coverage"]
    assert summary["file"] == "coverage.json" and summary["leaves"] == LEAVES
    assert summary["accepted_per_leaf_min"] == min(accepted.values())
    assert summary["accepted_per_leaf_max"] == max(accepted.values())

    # `tree stats --run` finds the run's tree by itself and agrees with the file.
    stats = stats_json("--run", spec.output)
    assert stats["leaves"] == LEAVES
    assert stats["coverage"]["accepted_min"] == min(accepted.values())
    assert stats["coverage"]["root"] == document["totals"]


async def test_lost_slots_without_replacements_are_given_up_and_reported(
    tmp_path: Path,
) -> None:
    with ScriptedOpenAIServer(responder=breaking(0.3, seed=8)) as server:
        spec = tree_spec(server.base_url, tmp_path, samples=24, replacements=0)
        await run_dataset(spec)
    rejects = read_jsonl(spec.output / "rejects.jsonl")
    assert rejects
    summary = read_manifest(spec.output)["coverage"]
    assert summary["given_up"] == len(rejects) and summary["pending"] == 0
    stats = stats_json("--run", spec.output)
    root = stats["coverage"]["root"]
    assert root["planned"] == 24 and root["accepted"] == 24 - len(rejects)


async def test_stats_counts_slots_not_run_yet_as_pending(tmp_path: Path) -> None:
    with ScriptedOpenAIServer() as server:
        spec = tree_spec(server.base_url, tmp_path, samples=8, replacements=1)
        await run_dataset(spec)
    # The spec asks for more samples than have run (as a killed run would leave it).
    pinned = json.loads((spec.output / "spec.json").read_text(encoding="utf-8"))
    (spec.output / "spec.json").write_text(json.dumps({**pinned, "samples": 20}), "utf-8")
    root = stats_json("--run", spec.output)["coverage"]["root"]
    assert root["planned"] == 20 and root["accepted"] == 8 and root["pending"] == 12


async def test_refinement_samples_count_on_their_leaf_even_one_never_planned(
    tmp_path: Path,
) -> None:
    from synthloom.refine import plan_round
    from synthloom.rundir import RunDir
    from synthloom.spec import RefineSpec

    with ScriptedOpenAIServer() as server:
        spec = tree_spec(server.base_url, tmp_path, samples=2)
        spec = spec.model_copy(update={"refine": RefineSpec(samples_per_round=6)})
        await run_dataset(spec)
        run_dir = RunDir(spec.output)
        run_dir.save_plans(1, plan_round(spec, run_dir, 1))
        await run_dataset(spec)
    samples = read_jsonl(spec.output / "samples.jsonl")
    base = Counter(s["metadata"]["leaf"] for s in samples if not s["metadata"].get("round"))
    refined = Counter(s["metadata"]["leaf"] for s in samples if s["metadata"].get("round"))
    assert sum(refined.values()) == 6 and set(refined) - set(base)  # some leaves were unplanned
    document = json.loads((spec.output / "coverage.json").read_text(encoding="utf-8"))
    for leaf, counts in document["leaves"].items():
        assert counts["accepted"] == base[leaf] + refined[leaf]
        assert counts["planned"] == base[leaf]  # refinement fills no planned slot
    shown = CliRunner().invoke(tree_app, ["show", "--run", str(spec.output)]).stdout
    leaf = next(iter(set(refined) - set(base)))
    assert f"[{refined[leaf]}/0]" in shown
