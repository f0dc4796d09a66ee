"""Ingest bounds: oversized files and broken links are skipped with their reason; progress lines."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from knowledge.ingest import Skipped, ingest
from knowledge.store import KnowledgeStore
from tests.knowledge.conftest import spec_for


def test_oversized_files_and_broken_links_are_skipped_and_every_file_read_is_logged(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "small.md").write_text("# Salt\n\nEat less than 6 grams of salt a day.\n")
    big = "Water keeps the kidneys working and the blood flowing well.\n" * 20_000
    (sources / "big.txt").write_text(big)  # 1.2 MB, over a 1 MB limit
    (sources / "gone.md").symlink_to(tmp_path / "deleted.md")
    log = io.StringIO()

    with KnowledgeStore(spec_for(tmp_path / "kb", max_file_mb=1.0)) as store:
        summary = ingest(store, [sources], log=Console(file=log, width=300))

    assert summary.files == 1 and summary.added >= 1
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in summary.skipped}
    assert reasons == {
        "big.txt": "1.2 MB is over the 1 MB limit; raise `knowledge.max_file_mb` "
        "(or --max-file-mb) to ingest it",
        "gone.md": f"broken link (to {tmp_path / 'deleted.md'})",
    }
    assert all(isinstance(s, Skipped) for s in summary.skipped)
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reading ") and "small.md (0.0 MB)" in lines[0]
