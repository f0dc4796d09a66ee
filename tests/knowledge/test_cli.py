"""The knowledge commands as a user runs them: summaries, skipped files, previews, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from synthloom.cli_knowledge import demos_app, ingest, kb_app
from synthloom.core.errors import SynthloomError
from tests.knowledge.conftest import EXAMPLE_DEMOS, EXAMPLE_KNOWLEDGE

# The same registration synthloom.cli does.
app = typer.Typer()
app.command()(ingest)
app.add_typer(demos_app, name="demos")
app.add_typer(kb_app, name="kb")
runner = CliRunner(env={"COLUMNS": "200"})


def test_ingest_prints_a_summary_with_skipped_files(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK")
    kb = tmp_path / "kb"
    args = ["ingest", str(EXAMPLE_KNOWLEDGE / "faq-diabetes.csv"), str(tmp_path / "notes.docx")]
    result = runner.invoke(app, [*args, "--kb", str(kb), "--chunk-size", "400"])
    assert result.exit_code == 0, result.output
    assert _row(result.output, "added") == "6"
    assert f"skipped {tmp_path / 'notes.docx'}: unsupported file type '.docx'" in result.output
    again = runner.invoke(app, [*args, "--kb", str(kb), "--chunk-size", "400"])
    assert (_row(again.output, "added"), _row(again.output, "unchanged")) == ("0", "6")

    query = runner.invoke(
        app, ["kb", "query", "is fruit allowed with diabetes", "--kb", str(kb), "-k", "1"]
    )
    assert query.exit_code == 0 and "Whole fruit" in query.output
    stats = runner.invoke(app, ["kb", "stats", "--kb", str(kb)])
    assert "knowledge" in stats.output and "local:all-MiniLM-L6-v2" in stats.output


def _row(output: str, name: str) -> str:
    """The value of a row of the summary table."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells[0] == name:
            return cells[1]
    raise AssertionError(f"no {name!r} row in:\n{output}")


def test_demos_add_and_select(tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    added = runner.invoke(app, ["demos", "add", str(EXAMPLE_DEMOS), "--kb", kb])
    assert added.exit_code == 0 and "6 added" in added.output
    again = runner.invoke(app, ["demos", "add", str(EXAMPLE_DEMOS), "--kb", kb])
    assert "0 added, 6 already present" in again.output
    picked = runner.invoke(
        app, ["demos", "select", "blood pressure readings", "--kb", kb, "-k", "1"]
    )
    assert picked.exit_code == 0 and "assistant" in picked.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing-dir"], "nothing was ingested"),
        (["ingest", "x", "--chunk-size", "200", "--overlap", "300"], "chunk_overlap (300)"),
        (["ingest", "x", "--server", "nohost"], "expected HOST:PORT"),
        (["kb", "query", "anything"], "no knowledge base at"),
    ],
)
def test_user_errors_are_one_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--kb", str(tmp_path / "kb")])
    assert isinstance(result.exception, SynthloomError)
    assert message in str(result.exception)
    assert not (tmp_path / "kb").exists()  # a failed first ingest leaves no folder behind
