"""The novelty gate over real HTTP, against a server that repeats 30% of its conversations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthloom.spec import RunSpec, parse_spec
from tests.integration.conftest import (
    assert_counts_consistent,
    read_jsonl,
    read_manifest,
    run_dataset,
    spec_yaml,
)
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


@pytest.fixture
def repeating() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(repeat_share=0.3) as srv:
        yield srv


def spec_for(server: ScriptedOpenAIServer, output: Path, *, gate: bool, samples: int) -> RunSpec:
    text = spec_yaml(
        server.base_url, output, samples=samples, concurrency=4, rounds=(2, 2), novelty=gate
    )
    text += "coverage: {replacements: 3}\n"
    return parse_spec(text, source="novelty-spec.yaml")


def trigrams(record: dict[str, Any]) -> set[tuple[str, ...]]:
    words = (
        " ".join(m["content"] for m in record["messages"] if m["role"] != "system").lower().split()
    )
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def near_duplicate_share(records: list[dict[str, Any]]) -> float:
    """Share of samples with word 3-gram Jaccard >= 0.8 to an earlier one (the target's test)."""
    grams = [trigrams(r) for r in records]
    repeats = sum(
        1
        for j in range(len(grams))
        if any(len(grams[i] & grams[j]) / len(grams[i] | grams[j]) >= 0.8 for i in range(j))
    )
    return repeats / max(1, len(records))


def opening(record: dict[str, Any]) -> str:
    return str(next(m["content"] for m in record["messages"] if m["role"] == "user"))


async def test_without_the_gate_the_repeats_are_accepted(
    repeating: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    # The measurement below can fail: with the gate off, it does.
    result = await run_dataset(spec_for(repeating, tmp_path / "run", gate=False, samples=40))
    assert result.status == "completed"
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    stats = repeating.repeats.stats if repeating.repeats else None
    assert stats is not None and stats.repeated >= 6
    assert near_duplicate_share(samples) >= 0.1


async def test_the_gate_keeps_repeats_out_and_accounts_for_each(
    repeating: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = await run_dataset(spec_for(repeating, output, gate=True, samples=40))
    assert result.status == "completed"
    samples = read_jsonl(output / "samples.jsonl")
    rejects = read_jsonl(output / "rejects.jsonl")
    counts = assert_counts_consistent(output, requested=result.counts.requested)
    manifest = read_manifest(output)

    # Target: < 1% near-duplicates among accepted samples (here: none at all).
    assert near_duplicate_share(samples) == 0.0
    assert len(samples) >= 38  # lost slots were refilled on their leaf and cell

    # Every opening the server sent (a repeat or not) is accounted for: redirected by
    # the gate (asked again, or the sample rejected), or the first turn of a reject, or
    # of an accepted sample; and no two accepted samples open alike.
    stats = repeating.repeats.stats if repeating.repeats else None
    assert stats is not None and stats.repeated >= 6
    redirected = manifest["novelty"]["openings_redirected"]
    in_rejects = sum(1 for r in rejects if r["messages"])
    assert redirected + in_rejects + len(samples) == stats.openings
    assert redirected >= stats.repeated // 2
    accepted_openings = Counter(opening(s) for s in samples)
    assert max(accepted_openings.values()) == 1

    # Refused finished samples are rejects with their reason, counted in the ledger.
    refused = [r for r in rejects if r["reason"].startswith("near_duplicate of ")]
    assert manifest["reject_reasons"].get("near_duplicate", 0) == len(refused)
    accepted_ids = {s["metadata"]["id"] for s in samples}
    for reject in refused:
        assert reject["reason"].split()[2] in accepted_ids  # it names what it repeats
    assert counts["rejected"] == len([r for r in rejects if r["status"] == "rejected"])
    # Regenerated openings are on the samples that got a new one.
    retried = sum(s["metadata"].get("novelty_retries", 0) for s in samples)
    assert retried <= redirected


async def test_a_resumed_run_rebuilds_the_index_from_its_samples(
    repeating: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    first = await run_dataset(spec_for(repeating, output, gate=True, samples=20))
    assert first.status == "completed"
    # A second process extends the dataset; the server still repeats the first run's talks.
    second = await run_dataset(spec_for(repeating, output, gate=True, samples=40))
    assert second.status == "completed" and second.skipped >= 20
    samples = read_jsonl(output / "samples.jsonl")
    ids = [s["metadata"]["id"] for s in samples]
    assert len(ids) == len(set(ids)) >= 38
    assert near_duplicate_share(samples) == 0.0
    assert read_manifest(output)["novelty"]["accepted_indexed"] == len(samples)
