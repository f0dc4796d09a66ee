"""Chunking: headings bound chunks, sentences are kept whole, size and overlap hold."""

from __future__ import annotations

import re

import pytest

from knowledge.chunking import chunk_document, chunk_id
from knowledge.loaders import Document, Part

SENTENCES = [
    f"Sentence number {i} explains one small fact about blood pressure readings at home."
    for i in range(40)
]
LONG_MD = (
    "# Guide\n\nIntro paragraph.\n\n## Alpha\n\n"
    + " ".join(SENTENCES[:20])
    + "\n\n## Beta\n\n"
    + " ".join(SENTENCES[20:])
    + "\n"
)


def doc(text: str, title: str = "Guide") -> Document:
    return Document(source="guide.md", kind="markdown", title=title, parts=[Part(text)])


def body(text: str) -> str:
    return text.split("\n", 1)[1]


def test_chunks_never_cross_a_heading_and_carry_their_breadcrumb() -> None:
    chunks = chunk_document(doc(LONG_MD), size=300, overlap=60)
    alpha = [c for c in chunks if c.metadata["section"] == "Guide > Alpha"]
    beta = [c for c in chunks if c.metadata["section"] == "Guide > Beta"]
    assert alpha and beta
    assert all(c.text.startswith("Guide > Alpha\n") for c in alpha)
    numbers = {
        name: {int(n) for c in group for n in re.findall(r"number (\d+)", c.text)}
        for name, group in (("alpha", alpha), ("beta", beta))
    }
    assert numbers["alpha"] == set(range(20)) and numbers["beta"] == set(range(20, 40))


def test_size_sentences_and_overlap() -> None:
    size, overlap = 300, 100
    chunks = [c for c in chunk_document(doc(LONG_MD), size=size, overlap=overlap)]
    section = [body(c.text) for c in chunks if c.metadata["section"] == "Guide > Alpha"]
    assert len(section) > 3
    assert all(len(b) <= size for b in section)
    # Every chunk is whole sentences: it starts at a sentence and ends with a full stop.
    assert all(b.startswith("Sentence number") and b.endswith("at home.") for b in section)
    # Neighbours share text: the last sentence of one opens the next.
    for left, right in zip(section, section[1:], strict=False):
        last = left.rsplit("Sentence number", 1)[1]
        assert right.startswith("Sentence number" + last)


def test_positions_ids_and_metadata() -> None:
    chunks = chunk_document(doc(LONG_MD), size=300, overlap=0)
    assert [c.metadata["position"] for c in chunks] == list(range(len(chunks)))
    assert all(c.id == chunk_id(c.text) and len(c.id) == 32 for c in chunks)
    assert chunks[0].metadata == {
        "source": "guide.md",
        "title": "Guide",
        "section": "Guide",
        "position": 0,
        "kind": "markdown",
    }
    # Same content, same ids: the basis of idempotent ingest.
    assert [c.id for c in chunk_document(doc(LONG_MD), size=300, overlap=0)] == [
        c.id for c in chunks
    ]


def test_repeated_passages_are_stored_once() -> None:
    text = "# Guide\n\nSame words here.\n\n# Guide\n\nSame words here.\n"
    assert len(chunk_document(doc(text), size=300, overlap=0)) == 1


def test_pages_and_rows_are_kept() -> None:
    pdf = Document(
        source="a.pdf",
        kind="pdf",
        title="A",
        parts=[
            Part("Page one text.", markdown=False, page=1),
            Part("Two.", markdown=False, page=2),
        ],
    )
    chunks = chunk_document(pdf, size=200, overlap=0)
    assert [c.metadata["page"] for c in chunks] == [1, 2]
    assert chunks[1].text == "A\nTwo."


@pytest.mark.parametrize("size", [120, 700, 2000])
def test_no_text_is_lost(size: int) -> None:
    chunks = chunk_document(doc(LONG_MD), size=size, overlap=0)
    joined = " ".join(body(c.text) for c in chunks)
    assert all(s in joined for s in SENTENCES)
