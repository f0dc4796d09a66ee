"""The spec's `execution:` block and `checkpointer: {postgres: DSN}`, validated early."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthloom.core.errors import SpecError
from synthloom.execution.checkpoints import describe_dsn
from synthloom.execution.config import ExecutionSpec, PostgresCheckpointer
from synthloom.execution.driver import probe, sample_slots
from synthloom.spec import parse_spec

BASE = """\
samples: 10
output: {output}
topics: [Choosing a first road bicycle]
concurrency: 12
"""


def spec_text(tmp_path: Path, more: str = "") -> str:
    return BASE.format(output=tmp_path / "run") + more


def test_a_spec_without_execution_runs_in_this_process(tmp_path: Path) -> None:
    spec = parse_spec(spec_text(tmp_path), source="s.yaml")
    assert not spec.execution.distributed and spec.checkpointer == "sqlite"
    assert sample_slots(spec) == 12


def test_execution_and_a_postgres_checkpointer_parse(tmp_path: Path) -> None:
    more = (
        "execution: {ray: ' head:6379 ', workers: 3}\n"
        "checkpointer: {postgres: 'postgresql://u:secret@db:5433/runs'}\n"
    )
    spec = parse_spec(spec_text(tmp_path, more), source="s.yaml")
    assert spec.execution == ExecutionSpec(ray="head:6379", workers=3)
    assert spec.execution.distributed
    assert isinstance(spec.checkpointer, PostgresCheckpointer)
    # The execution block decides where samples run, not what they are.
    assert spec.plan_fingerprint() == parse_spec(spec_text(tmp_path), "s.yaml").plan_fingerprint()


def test_workers_alone_mean_local_processes() -> None:
    assert ExecutionSpec(workers=2).distributed


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ("execution: {ray: ''}\n", "execution.ray"),
        ("execution: {workers: 0}\n", "execution.workers"),
        ("execution: {nodes: 2}\n", "execution.nodes"),
        ("checkpointer: {mysql: x}\n", "checkpointer"),
    ],
)
def test_a_bad_execution_block_names_its_field(tmp_path: Path, more: str, field: str) -> None:
    with pytest.raises(SpecError, match=field.split(".")[0]):
        parse_spec(spec_text(tmp_path, more), source="s.yaml")


def test_a_dsn_is_named_without_its_password() -> None:
    described = describe_dsn("postgresql://u:secret@db:5433/runs")
    assert described == "postgresql://u@db:5433/runs" and "secret" not in described


def test_an_address_without_a_port_is_refused_before_ray_is_asked() -> None:
    from synthloom.execution.config import ExecutionError

    with pytest.raises(ExecutionError, match="not a Ray address"):
        probe("just-a-host")
    probe("local")  # started here: nothing to reach
