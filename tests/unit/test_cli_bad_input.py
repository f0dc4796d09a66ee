"""Bad input met by the CLI's entry point: one `error:` line, exit code 2, nothing left behind.

Found by probing every command with broken paths, files and options; each case
here was a traceback (or a stray file) before.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from synthloom.cli import main
from tests.curate.conftest import build_run, small_spec

SPEC = """\
task: dialogue
samples: 2
topics: [Asthma]
output: {output}
models:
  default: {{provider: openai, base_url: "http://127.0.0.1:9/v1"}}
"""


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the entry point; return stderr after asserting the user-error exit code."""
    monkeypatch.setattr(sys, "argv", ["synthloom", *args])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def test_a_bad_option_value_names_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(output=tmp_path / "run"))
    err = cli(monkeypatch, capsys, "run", str(spec), "--samples", "0")
    assert "invalid option: --samples: Input should be greater than or equal to 1" in err
    err = cli(monkeypatch, capsys, "run", str(spec), "--budget-tokens", "-5")
    assert "--budget-tokens:" in err
    assert not (tmp_path / "run").exists()


def test_paths_that_cannot_be_written_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("not a folder")
    err = cli(monkeypatch, capsys, "init", str(tmp_path / "afile" / "spec.yaml"))
    assert f"{tmp_path / 'afile' / 'spec.yaml'}: Not a directory" in err


def test_a_binary_spec_is_not_a_text_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(bytes(range(128, 256)))
    assert "not a text file" in cli(monkeypatch, capsys, "validate", str(spec))


def test_an_inherited_spec_error_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("samples: 2\ntopics: [Asthma]\nmodels:\n  default: {replicas: [http://b/v1]}\n")
    err = cli(monkeypatch, capsys, "validate", str(spec))
    assert "(1 problem(s))" in err and err.count("replicas") == 1


def test_export_of_a_broken_samples_file_names_the_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    build_run(run, small_spec(samples=3))
    with open(run / "samples.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    err = cli(monkeypatch, capsys, "export", str(run))
    assert f"{run / 'samples.jsonl'}:4: invalid JSON" in err
    assert not list(run.glob("export/*")) and not list(run.glob("export/.*"))


def test_reading_a_missing_knowledge_base_does_not_create_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = cli(monkeypatch, capsys, "kb", "stats", "--kb", str(tmp_path / "kb"))
    assert "no knowledge base at" in err and not (tmp_path / "kb").exists()


def test_a_broken_curate_config_is_one_line_with_its_line_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    build_run(run, small_spec(samples=3))
    config = tmp_path / "curate.yaml"
    config.write_text("curate:\n  dedup: {threshold: 0.5}\n  judge: [\n")
    err = cli(monkeypatch, capsys, "curate", str(run), "--config", str(config))
    assert err.startswith(f"error: {config}:") and "invalid YAML" in err
    assert err.strip().count("\n") == 0  # one line, not PyYAML's multi-line dump


@pytest.mark.parametrize("field", ["sources", "demos"])
def test_a_missing_knowledge_path_stops_validate_and_run_before_anything_is_written(
    field: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "asthma.md").write_text("# Asthma\n\nInhalers relieve symptoms.\n")
    (tmp_path / "demos.jsonl").write_text("")
    lists = {"sources": "[notes]", "demos": "[demos.jsonl]"}
    lists[field] = "[nots]" if field == "sources" else "[demos.jsonl, demoz.jsonl]"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.format(output=tmp_path / "run")
        + f"knowledge:\n  path: {tmp_path / 'kb'}\n  sources: {lists['sources']}\n"
        f"  demos: {lists['demos']}\n"
    )
    index, name = (0, "nots") if field == "sources" else (1, "demoz.jsonl")
    for command in ("validate", "run"):
        err = cli(monkeypatch, capsys, command, str(spec))
        assert f"knowledge.{field}[{index}]: {tmp_path / name} does not exist" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "kb").exists()
