"""A shared knowledge base on a real Chroma server (`chroma run` on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.demos import add_demos
from knowledge.grounding import KnowledgeBase
from knowledge.ingest import ingest
from knowledge.spec import KnowledgeSpec
from knowledge.store import KnowledgeStore
from synthloom.core.errors import KnowledgeError
from tests.knowledge.conftest import EXAMPLE_DEMOS, EXAMPLE_KNOWLEDGE, free_port

pytestmark = pytest.mark.integration


async def test_ingest_and_retrieval_through_a_chroma_server(
    chroma_server: tuple[str, int], tmp_path: Path
) -> None:
    host, port = chroma_server
    spec = KnowledgeSpec(path=tmp_path / "cache", server={"host": host, "port": port})
    sources = [EXAMPLE_KNOWLEDGE / "fever-in-children.html", EXAMPLE_KNOWLEDGE / "faq-diabetes.csv"]
    # Two clients at once: a server has no one-process rule (no folder lock is taken).
    with KnowledgeStore(spec) as writer, KnowledgeStore(spec) as other:
        first = ingest(writer, sources)
        add_demos(writer, EXAMPLE_DEMOS)
        again = ingest(other, sources)
    assert first.added == first.total > 0 and first.skipped == []
    assert (again.added, again.unchanged, again.total) == (0, first.total, first.total)
    assert not (tmp_path / "cache" / ".lock").exists()
    # The chunks live in the server's own folder (the fixture's `chroma run --path`).
    assert (tmp_path / "server-data" / "chroma.sqlite3").is_file()
    assert not (tmp_path / "cache" / "chroma").exists()

    with KnowledgeBase(spec) as base:
        grounding = await base.ground("When a fever in a child needs a doctor", seed="p1")
        chunks = base.retriever.retrieve("can I give aspirin to my child", 3)
        stored = base.retriever.get(grounding.sources)
    assert "Reye's syndrome" in chunks[0].text
    assert [c.id for c in stored] == grounding.sources and grounding.demos


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    spec = KnowledgeSpec(path=tmp_path, server={"host": "127.0.0.1", "port": free_port()})
    with pytest.raises(KnowledgeError, match=r"chroma server http://127.0.0.1:\d+: cannot reach"):
        KnowledgeStore(spec)
