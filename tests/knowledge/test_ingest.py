"""Ingest: idempotent, resumable after kill -9, bad files named, one process per folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfWriter

from knowledge.ingest import IngestSummary, ingest
from knowledge.store import KnowledgeStore
from synthloom.core.errors import KnowledgeBaseLockedError, KnowledgeError
from tests.knowledge.conftest import EXAMPLE_KNOWLEDGE, REPO, spec_for


def all_ids(folder: Path) -> set[str]:
    with KnowledgeStore(spec_for(folder)) as store:
        return set(store.knowledge.get(include=[])["ids"])


def test_example_ingest_covers_every_format(built_kb: tuple[Path, IngestSummary]) -> None:
    folder, summary = built_kb
    assert summary.skipped == []
    assert summary.files == 6
    assert summary.added == summary.chunks == summary.total > 30
    with KnowledgeStore(spec_for(folder)) as store:
        metas = store.knowledge.get(include=["metadatas"])["metadatas"] or []
    kinds = {m["kind"] for m in metas}
    assert kinds == {"markdown", "text", "html", "pdf", "csv", "jsonl"}
    assert all({"source", "title", "section", "position"} <= m.keys() for m in metas)


def test_reingest_changes_nothing(example_kb: Path) -> None:
    before = all_ids(example_kb)
    with KnowledgeStore(spec_for(example_kb)) as store:
        again = ingest(store, [EXAMPLE_KNOWLEDGE])
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert again.unchanged == again.chunks == again.total == len(before)
    assert all_ids(example_kb) == before


def _blank_pdf(path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    with path.open("wb") as handle:
        writer.write(handle)


def test_bad_inputs_are_named_and_the_rest_is_ingested(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "good.md").write_text("# Salt\n\nEat less than 6 grams of salt a day.\n")
    (sources / "empty.txt").write_text("")
    (sources / "slides.pptx").write_bytes(b"PK")
    (sources / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
    (sources / ".hidden.md").write_text("# Hidden\n\nNever read.\n")
    _blank_pdf(sources / "scan.pdf")
    missing = tmp_path / "does-not-exist"
    with KnowledgeStore(spec_for(tmp_path / "kb")) as store:
        summary = ingest(store, [sources, missing])
    reasons = {Path(s.source).name: s.reason for s in summary.skipped}
    assert set(reasons) == {"empty.txt", "slides.pptx", "bad.jsonl", "scan.pdf", "does-not-exist"}
    assert reasons["empty.txt"] == "empty file"
    assert "unsupported file type '.pptx'" in reasons["slides.pptx"]
    assert reasons["bad.jsonl"].startswith("line 2: invalid JSON")
    assert "no extractable text" in reasons["scan.pdf"]
    assert reasons["does-not-exist"] == "no such file or directory"
    # Nothing half-written: the broken JSONL left no chunk behind, the good file is whole.
    assert summary.files == 1 and summary.total == summary.added == 1


def test_changed_and_moved_files_are_brought_up_to_date(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    note = sources / "note.md"
    note.write_text("# Note\n\nFirst fact.\n\n## More\n\nSecond fact.\n")
    spec = spec_for(tmp_path / "kb")
    with KnowledgeStore(spec) as store:
        first = ingest(store, [sources])
        note.write_text("# Note\n\nFirst fact.\n\n## More\n\nA corrected second fact.\n")
        changed = ingest(store, [sources])
        moved = sources / "renamed.md"
        note.rename(moved)
        renamed = ingest(store, [sources])
        metas = store.knowledge.get(include=["metadatas"])["metadatas"] or []
    assert first.total == 2
    assert (changed.added, changed.unchanged, changed.removed, changed.total) == (1, 1, 1, 2)
    # A move re-labels the chunks without embedding anything again.
    assert (renamed.added, renamed.updated, renamed.total) == (0, 2, 2)
    assert {Path(str(m["source"])).name for m in metas} == {"renamed.md"}


def test_a_base_built_with_one_embedder_refuses_another(example_kb: Path) -> None:
    spec = spec_for(
        example_kb,
        embedding={"provider": "openai", "model": "other", "base_url": "http://127.0.0.1:9/v1"},
    )
    with pytest.raises(KnowledgeError, match="built with embeddings 'local:all-MiniLM-L6-v2'"):
        with KnowledgeStore(spec) as store:
            store.knowledge  # noqa: B018 - opening the collection is the check


HOLDER = textwrap.dedent(
    """
    import sys, time
    from knowledge.spec import KnowledgeSpec
    from knowledge.store import KnowledgeStore
    store = KnowledgeStore(KnowledgeSpec(path=sys.argv[1]), purpose="test holder")
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(KnowledgeBaseLockedError) as info:
            KnowledgeStore(spec_for(folder))
        message = str(info.value)
        assert str(folder) in message and f"pid {holder.pid}" in message
        assert "test holder" in message and "chroma run" in message
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the lock with the process: no stale lock to clean up.
    with KnowledgeStore(spec_for(folder)) as store:
        assert store.knowledge.count() == 0


def test_one_process_may_open_its_own_base_twice(tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "kb")
    with KnowledgeStore(spec) as outer, KnowledgeStore(spec) as inner:
        assert outer.knowledge.count() == inner.knowledge.count() == 0


INGESTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from knowledge.ingest import ingest
    from knowledge.spec import KnowledgeSpec
    from knowledge.store import KnowledgeStore
    spec = KnowledgeSpec(path=sys.argv[1], chunk_size=200, chunk_overlap=0)
    with KnowledgeStore(spec) as store:
        ingest(store, [Path(sys.argv[2])], write_batch=8,
               on_write=lambda n: print(n, flush=True))
    print("done", flush=True)
    """
)


def _corpus(folder: Path, files: int = 4, paragraphs: int = 12) -> None:
    folder.mkdir(parents=True)
    for f in range(files):
        lines = [f"# Leaflet {f}"]
        for p in range(paragraphs):
            lines.append(f"## Part {p}\n\nLeaflet {f} part {p} says one short thing about health.")
        (folder / f"leaflet-{f}.md").write_text("\n\n".join(lines) + "\n")


@pytest.mark.integration
def test_ingest_killed_mid_way_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    killed = tmp_path / "killed-kb"
    proc = subprocess.Popen(
        [sys.executable, "-c", INGESTER, str(killed), str(corpus)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    written = int(proc.stdout.readline())  # one batch is in Chroma, more are to come
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < written < 48
    partial = all_ids(killed)
    assert written <= len(partial) < 48

    spec = dict(chunk_size=200, chunk_overlap=0)
    with KnowledgeStore(spec_for(killed, **spec)) as store:
        resumed = ingest(store, [corpus])
    clean_folder = tmp_path / "clean-kb"
    with KnowledgeStore(spec_for(clean_folder, **spec)) as store:
        clean = ingest(store, [corpus])
    assert clean.total == resumed.total == 48
    assert resumed.added == 48 - len(partial)
    assert all_ids(killed) == all_ids(clean_folder)
