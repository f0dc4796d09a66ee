"""Large text and Markdown files are read and chunked as a stream, in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.chunking import chunk_document
from knowledge.ingest import ingest
from knowledge.loaders import (
    STREAM_FROM_BYTES,
    Document,
    SkipFile,
    _markdown,
    _text,
    load_document,
)
from knowledge.store import KnowledgeStore
from tests.concepts.scripted import HashingEmbeddings
from tests.knowledge.conftest import REPO, spec_for


def markdown(sections: int) -> str:
    out = ["Intro before any heading, with é and 日本語.\r\n\r\n"]
    for i in range(sections):
        out.append(f"# Part {i}\n\nAbout part {i}. It goes on a while.\n\n## Detail {i}\n\n")
        out.append(f"```\n# not a heading {i}\n```\n\n### Deep {i}\n\n" + "Deeper. " * (i % 90))
        out.append("\n\n")
    return "".join(out)


def plain(paragraphs: int) -> str:
    out = ["Fluids\n\n"]
    for i in range(paragraphs):
        if i % 50 == 0:
            out.append(f"Section {i}\n\n")
        out.append(f"Paragraph {i}: drink water, é日本. " * (1 + i % 7) + "\r\n\r\n")
    return "".join(out)


def whole(path: Path, kind: str) -> Document:
    title, parts = (_text if kind == "text" else _markdown)(path.read_text("utf-8"))
    return Document(source="x", kind=kind, title=title or "Big", parts=parts)


@pytest.mark.parametrize(("kind", "text"), [("markdown", markdown(7000)), ("text", plain(9000))])
def test_a_streamed_file_gives_the_chunks_a_whole_read_gives(
    tmp_path: Path, kind: str, text: str
) -> None:
    path = tmp_path / ("big.md" if kind == "markdown" else "big.txt")
    path.write_bytes(text.encode("utf-8"))
    assert path.stat().st_size > STREAM_FROM_BYTES
    document = load_document(path, "x")
    assert document.parts[0].lines is not None and not document.parts[0].text
    streamed = chunk_document(document, size=800, overlap=100)
    expected = chunk_document(whole(path, kind), size=800, overlap=100)
    assert document.title == whole(path, kind).title
    assert len(streamed) > 1000
    assert [(c.id, c.metadata) for c in streamed] == [(c.id, c.metadata) for c in expected]


def test_a_large_file_is_checked_before_any_chunk_is_made(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    good = b"Fine line of text.\n" * 200_000
    bad.write_bytes(good + b"\xff\n")
    with pytest.raises(SkipFile, match=f"bad byte at offset {len(good)}"):
        load_document(bad, "bad.txt")
    blank = tmp_path / "blank.md"
    blank.write_bytes(b" \n" * 1_000_000)
    with pytest.raises(SkipFile, match="empty file"):
        load_document(blank, "blank.md")


def test_re_ingesting_a_streamed_file_writes_nothing(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "big.md").write_text(markdown(2500), encoding="utf-8")
    spec = spec_for(tmp_path / "kb")
    with KnowledgeStore(spec, embeddings=HashingEmbeddings(64)) as store:
        first = ingest(store, [sources])
        again = ingest(store, [sources])
    assert first.files == 1 and first.added == first.chunks > 500
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert again.unchanged == first.chunks == again.total


_MEASURE = """
import json, sys
from pathlib import Path
from knowledge.ingest import ingest
from knowledge.store import KnowledgeStore
from tests.concepts.scripted import HashingEmbeddings
from tests.knowledge.conftest import spec_for

def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

folder = Path(sys.argv[1])
spec = spec_for(folder / "kb", max_file_mb=100)
with KnowledgeStore(spec, embeddings=HashingEmbeddings(64)) as store:
    store.knowledge.count()
    before = status_mb("VmRSS")
    summary = ingest(store, [folder / "sources"])
# VmHWM, not ru_maxrss: Linux carries the parent's peak across fork and exec into that.
peak = status_mb("VmHWM")
print(json.dumps({"files": summary.files, "chunks": summary.chunks, "added": summary.added,
                  "total": summary.total, "before_mb": before, "peak_mb": peak}))
"""


def test_a_30_mb_text_file_ingests_in_bounded_memory(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    para = "Water keeps the kidneys working.\nDrink more in hot weather.\n\n"
    with open(sources / "huge.txt", "w", encoding="utf-8") as handle:
        for n in range(1, 30_000_000 // len(para) + 1):
            handle.write(para if n % 2000 else f"Note {n}: see the leaflet on fluids.\n\n")
    size_mb = (sources / "huge.txt").stat().st_size / 1_000_000
    assert size_mb > 29
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=True,
    )
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["files"] == 1 and figures["added"] == figures["chunks"] == figures["total"]
    assert figures["chunks"] > 100
    # Growth while ingesting, not the interpreter and Chroma already loaded.
    assert figures["peak_mb"] - figures["before_mb"] < size_mb, figures  # well under 3 x
