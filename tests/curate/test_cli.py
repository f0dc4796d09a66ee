"""The curate, report and compare commands, as `synthloom.cli` will register them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synthloom.cli_curate import compare, curate, report
from synthloom.core.errors import EndpointError, RunDirError, SpecError
from tests.curate.conftest import build_run, read_jsonl, small_spec
from tests.support.openai_server import ScriptedOpenAIServer

app = typer.Typer()
app.command()(curate)
app.command()(report)
app.command()(compare)
runner = CliRunner()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    build_run(tmp_path / "run", small_spec(samples=6))
    return tmp_path / "run"


def test_curate_without_llm_then_report(run: Path) -> None:
    result = runner.invoke(app, ["curate", str(run), "--no-llm"])
    assert result.exit_code == 0, result.output
    assert "6 accepted, 0 rejected, 0 failed" in result.output
    assert len(read_jsonl(run / "curated" / "samples.jsonl")) == 6
    result = runner.invoke(app, ["report", str(run), "--embedder", "lexical"])
    assert result.exit_code == 0, result.output
    data = json.loads((run / "report" / "report.json").read_text())
    assert data["dataset"] == "curated" and (run / "report" / "report.html").exists()


def test_compare_prints_a_side_by_side_table(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    build_run(other, small_spec(samples=3, conditions={}))
    out = tmp_path / "cmp"
    result = runner.invoke(
        app, ["compare", str(run), str(other), "--out", str(out), "--embedder", "none"]
    )
    assert result.exit_code == 0, result.output
    assert "distinct-2" in result.output and "accepted samples" in result.output
    assert (out / "compare.html").exists() and (out / "compare.json").exists()


def test_compare_writes_inside_the_first_run_by_default(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    build_run(other, small_spec(samples=3, conditions={}))
    result = runner.invoke(app, ["compare", str(run), str(other), "--embedder", "none"])
    assert result.exit_code == 0, result.output
    assert (run / "compare" / "other" / "compare.json").exists()


def test_user_errors_are_one_synthloom_error(run: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["curate", str(tmp_path / "nope")])
    assert isinstance(missing.exception, RunDirError)
    assert "no such run folder" in str(missing.exception)
    config = tmp_path / "curate.yaml"
    config.write_text("curate:\n  judge: {min_score: 9}\n  dedup: {treshold: 0.5}\n")
    bad = runner.invoke(app, ["curate", str(run), "--config", str(config)])
    assert isinstance(bad.exception, SpecError)
    assert "curate.judge.min_score" in str(bad.exception)
    assert "curate.dedup.treshold: Extra inputs are not permitted" in str(bad.exception)
    embedder = runner.invoke(app, ["report", str(run), "--embedder", "bert"])
    assert "--embedder must be auto, lexical or none" in str(embedder.exception)


def test_an_unreachable_judge_endpoint_names_the_role(run: Path) -> None:
    result = runner.invoke(app, ["curate", str(run)])
    assert isinstance(result.exception, EndpointError)
    assert str(result.exception).startswith("models.judge: endpoint http://127.0.0.1:9/v1")


def test_the_spec_curate_block_is_used(tmp_path: Path) -> None:
    path = tmp_path / "run"
    build_run(path, small_spec(samples=4))
    spec_file = path / "spec.json"
    spec = json.loads(spec_file.read_text())
    spec["curate"] = {"heuristics": {"min_sample_words": 5000, "max_sample_words": 9000}}
    spec_file.write_text(json.dumps(spec))
    result = runner.invoke(app, ["curate", str(path), "--no-llm"])
    assert result.exit_code == 0, result.output
    assert "0 accepted, 4 rejected" in result.output


@pytest.mark.integration
def test_curate_judges_over_http_with_the_spec_judge_model(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with ScriptedOpenAIServer() as server:
        models = {
            "default": {
                "provider": "openai",
                "base_url": server.base_url,
                "model": "scripted-model",
                "max_retries": 0,
            }
        }
        build_run(path, small_spec(samples=3, models=models))
        config = tmp_path / "curate.yaml"
        config.write_text("labels: {enabled: true}\njudge: {min_score: 1}\n")
        result = runner.invoke(app, ["curate", str(path), "--config", str(config)])
        requests = server.stats.request_log
    assert result.exit_code == 0, result.output
    names = sorted(r["response_format"]["json_schema"]["name"] for r in requests)
    assert names == ["RubricVerdict"] * 3 + ["SampleLabels"] * 3
    kept = read_jsonl(path / "curated" / "samples.jsonl")
    assert len(kept) == 3 and all("labels" in r["metadata"]["curation"] for r in kept)


HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from synthloom.rundir import RunDirLock\n"
    "with RunDirLock(Path(sys.argv[1]), 'synthloom run (dialogue)'):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(60)\n"
)


def test_curating_a_run_that_is_still_being_written_is_refused(run: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = runner.invoke(app, ["curate", str(run), "--no-llm"])
        assert isinstance(busy.exception, RunDirError)
        assert f"is being written by pid {holder.pid} (synthloom run" in str(busy.exception)
        assert not (run / "curated").exists()
    finally:
        holder.kill()
        holder.wait()
    done = runner.invoke(app, ["curate", str(run), "--no-llm"])
    assert done.exit_code == 0, done.output
