"""The report's JSON agrees with the run folder; the HTML page is self-contained."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from synthloom.core.errors import RunDirError, SpecError
from synthloom.curate.rundata import load_run
from synthloom.report import load_pricing, write_comparison, write_report
from synthloom.report.build import build_report
from synthloom.report.cost import ModelPrice, Pricing
from synthloom.report.lexical import HashedNgramEmbeddings
from tests.curate.conftest import read_jsonl
from tests.curate.report_fixture import curated_run


@pytest.fixture
async def run(tmp_path: Path) -> Path:
    return await curated_run(tmp_path / "run")


def test_report_figures_agree_with_the_curated_files(run: Path) -> None:
    report = build_report(load_run(run), embedder=HashedNgramEmbeddings())
    kept = read_jsonl(run / "curated" / "samples.jsonl")
    curation = json.loads((run / "curated" / "curation.json").read_text())
    assert report["dataset"] == "curated"
    assert report["counts"]["final"] == curation["counts"]
    final = report["counts"]["final"]
    assert final["requested"] == final["accepted"] + final["rejected"] + final["failed"]
    assert report["diversity"]["samples"] == len(kept)
    assert sum(report["coverage"]["counts"].values()) == len(kept)
    # The example plans over its concept tree: coverage counts its leaves.
    cov = report["coverage"]
    assert cov["key"] == "leaf" and cov["leaves"] == 9
    assert {k: n for k, n in cov["counts"].items() if n} == dict(
        Counter(r["metadata"]["leaf"] for r in kept)
    )
    assert cov["covered"] == len({r["metadata"]["leaf"] for r in kept})
    assert all(cov["labels"][r["metadata"]["leaf"]] == r["metadata"]["topic"] for r in kept)
    persona = report["conditions"]["persona"]
    assert persona["accepted"] == dict(
        Counter(r["metadata"]["conditions"]["persona"] for r in kept)
    )
    assert sum(persona["planned"].values()) == 12
    assert persona["expected_share"] == {
        v: pytest.approx(1 / 3, abs=1e-4) for v in persona["values"]
    }
    style = report["conditions"]["style"]["expected_share"]
    assert style == {"brief and practical": 0.6667, "detailed and curious": 0.3333}
    judge = report["judge"]
    assert judge["judged"] == 10 and sum(judge["histogram"].values()) == 10
    assert judge["histogram"]["2"] == 1 and judge["threshold"] == 3.0
    faith = report["faithfulness"]
    assert faith["checked"] == 4 and faith["faithful"] == 3 and faith["rate"] == 0.75
    assert faith["claims"] == {"supported": 10, "unsupported": 5, "contradicted": 0}
    assert report["rejections"]["generation"] == {"malformed_output": 1}
    assert report["rejections"]["curation"]["refusal"] == 1
    embedding = report["diversity"]["embedding"]
    assert "hashed-word-1-2-grams" in embedding["embedder"]
    assert 1.0 <= embedding["vendi_score"] <= len(kept)
    per_sample = embedding["vendi_score"] / embedding["samples"]
    assert embedding["vendi_per_sample"] == pytest.approx(per_sample, abs=1e-4)
    assert report["cost"]["tokens"]["judge"]["calls"] == curation["judge_usage_total"]["calls"]
    assert (
        report["cost"]["cost"] is None and report["cost"]["note"] == "no pricing given: tokens only"
    )


def test_cost_per_accepted_sample_with_prices(run: Path, tmp_path: Path) -> None:
    pricing = Pricing(
        models={
            "scripted-model": ModelPrice(input_per_1m=1.0, output_per_1m=2.0),
            "judge-model": ModelPrice(input_per_1m=0.5, output_per_1m=1.0),
        }
    )
    report = build_report(load_run(run), pricing=pricing)
    cost = report["cost"]
    gen = cost["tokens"]["generation"]
    judge = cost["tokens"]["judge"]
    expected = (
        gen["prompt_tokens"] * 1.0
        + gen["completion_tokens"] * 2.0
        + judge["prompt_tokens"] * 0.5
        + judge["completion_tokens"] * 1.0
    ) / 1e6
    assert cost["cost"] == pytest.approx(expected, abs=1e-6) and cost["exact"] is True
    assert cost["cost_per_accepted"] == pytest.approx(expected / cost["accepted"], abs=1e-6)
    partial = build_report(
        load_run(run), pricing=Pricing(models={"judge-model": pricing.models["judge-model"]})
    )
    assert partial["cost"]["cost"] is None and "scripted-model" in partial["cost"]["note"]
    bad = tmp_path / "prices.yaml"
    bad.write_text("models: {m: {input_per_1m: -1, output_per_1m: 1}}")
    with pytest.raises(SpecError, match="invalid pricing file"):
        load_pricing(bad)


def test_the_html_page_is_self_contained_and_embeds_the_json(run: Path, tmp_path: Path) -> None:
    json_path, html_path, report = write_report(run, tmp_path / "out")
    html = html_path.read_text()
    assert json.loads(json_path.read_text()) == report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script src" not in html and "<link" not in html
    ids = re.findall(r'<figure id="fig-([^"]+)"', html)
    assert ids == [
        "counts",
        "diversity",
        "coverage",
        "condition-persona",
        "condition-style",
        "turns",
        "lengths",
        "judge",
        "faithfulness",
        "rejections",
        "tokens",
    ]
    embedded = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert embedded and json.loads(embedded.group(1)) == report


def test_a_report_before_curation_describes_the_generated_samples(tmp_path: Path) -> None:
    from tests.curate.conftest import build_run, small_spec

    build_run(tmp_path / "raw", small_spec(samples=5))
    _, html_path, report = write_report(tmp_path / "raw")
    assert report["dataset"] == "generated" and report["judge"] is None
    assert report["counts"]["final"]["accepted"] == 5
    assert html_path.parent == tmp_path / "raw" / "report"


def test_compare_puts_two_runs_side_by_side(run: Path, tmp_path: Path) -> None:
    from tests.curate.conftest import build_run, small_spec

    other = tmp_path / "other"
    flat = {"concepts": None, "topics": ["Asthma inhalers", "Night-time cough"]}
    build_run(other, small_spec(samples=6, conditions={}, **flat))
    _, html_path, comparison = write_comparison(
        run, other, tmp_path / "cmp", embedder=HashedNgramEmbeddings()
    )
    rows = {r["metric"]: r for r in comparison["metrics"]}
    assert rows["accepted samples"]["a"] == 8 and rows["accepted samples"]["b"] == 6
    assert rows["accepted samples"]["delta"] == -2
    assert rows["distinct-2"]["a"] is not None
    vendi = rows["Vendi score ÷ samples"]
    assert 0 < vendi["a"] <= 1 and vendi["higher_is_better"] is True
    # The example plans over tree leaves, the small spec over flat topics: said, not blurred.
    assert (rows["coverage unit"]["a"], rows["coverage unit"]["b"]) == ("leaf", "topic")
    assert rows["units planned"]["a"] == 9 and rows["units planned"]["b"] == 2
    assert rows["units covered"]["b"] == 2 and rows["coverage unit"]["delta"] is None
    assert 'id="fig-compare"' in html_path.read_text()


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no run.json here"):
        write_report(tmp_path)
