"""Every command reads a run folder's spec through one function, with one clear error each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthloom.core.errors import RunDirError, SpecError
from synthloom.rundir import read_run_spec
from tests.curate.conftest import build_run, small_spec


def test_the_spec_a_run_was_started_with_is_read_back(tmp_path: Path) -> None:
    spec = build_run(tmp_path / "run", small_spec(samples=2))
    assert read_run_spec(tmp_path / "run") == spec


def test_a_missing_folder_or_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"nowhere: no such run folder"):
        read_run_spec(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match=r"empty/spec.json: missing"):
        read_run_spec(tmp_path / "empty")


def test_a_broken_copy_names_the_file_and_the_field(tmp_path: Path) -> None:
    build_run(tmp_path / "run", small_spec(samples=2))
    path = tmp_path / "run" / "spec.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "samples": -3}))
    with pytest.raises(SpecError, match=r"run/spec.json: samples: Input should be greater"):
        read_run_spec(tmp_path / "run")
    path.write_text("{not json")
    with pytest.raises(RunDirError, match=r"run/spec.json: unreadable run spec copy"):
        read_run_spec(tmp_path / "run")


def test_a_block_the_command_reads_itself_is_left_out(tmp_path: Path) -> None:
    build_run(tmp_path / "run", small_spec(samples=2))
    path = tmp_path / "run" / "spec.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "curate": {"bogus": 1}}))
    with pytest.raises(SpecError, match="curate"):
        read_run_spec(tmp_path / "run")
    assert read_run_spec(tmp_path / "run", ignore=("curate",)).samples == 2
