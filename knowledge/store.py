"""An open knowledge base: a Chroma client (local folder under a lock, or a server).

Vectors are always computed by synthloom and passed to Chroma explicitly, so
Chroma never runs (or downloads) an embedding model of its own. Each collection
records which embedder built it; opening it with another one is an error rather
than a silent mix of two vector spaces.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings
from langchain_core.embeddings import Embeddings

from knowledge.embeddings import make_embeddings
from knowledge.locking import KnowledgeBaseLock
from knowledge.spec import KnowledgeSpec
from synthloom.core.errors import KnowledgeError

EMBEDDING_KEY = "synthloom:embedding"
KIND_KEY = "synthloom:kind"
CHROMA_FOLDER = "chroma"


class KnowledgeStore:
    """Chroma collections of one knowledge base plus the embedder that built them."""

    def __init__(
        self,
        spec: KnowledgeSpec,
        embeddings: Embeddings | None = None,
        *,
        purpose: str = "synthloom",
        create: bool = True,
    ) -> None:
        self.spec = spec
        self.embeddings = embeddings if embeddings is not None else make_embeddings(spec.embedding)
        self.folder = Path(spec.path)
        self._lock: KnowledgeBaseLock | None = None
        if spec.server is None and not create and not (self.folder / CHROMA_FOLDER).is_dir():
            raise KnowledgeError(
                f"no knowledge base at {self.folder}: build it first with "
                f"`synthloom ingest SOURCES... --kb {self.folder}`"
            )
        if spec.server is None:
            self._lock = KnowledgeBaseLock(self.folder, purpose)
            self._lock.acquire()
        try:
            self.client = _connect(spec, self.folder)
        except Exception:
            self._release()
            raise
        self._collections: dict[str, Collection] = {}

    def collection(self, name: str, kind: str) -> Collection:
        """Get or create a cosine collection, checking it was built by our embedder."""
        if name in self._collections:
            return self._collections[name]
        identity = self.spec.embedding.identity
        try:
            collection = self.client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={EMBEDDING_KEY: identity, KIND_KEY: kind},
            )
        except Exception as exc:  # noqa: BLE001 - Chroma raises many kinds; say which base
            raise KnowledgeError(
                f"{self.spec.describe()}: cannot open collection {name!r}: {exc}"
            ) from None
        recorded = (collection.metadata or {}).get(EMBEDDING_KEY)
        if recorded is not None and recorded != identity:
            raise KnowledgeError(
                f"{self.spec.describe()}: collection {name!r} was built with embeddings "
                f"{recorded!r}, but this spec embeds with {identity!r}; vectors of different "
                "models cannot be compared. Use the same embedding, or another collection"
            )
        self._collections[name] = collection
        return collection

    @property
    def knowledge(self) -> Collection:
        """The chunks of ingested documents."""
        return self.collection(self.spec.collection, "knowledge")

    @property
    def demos(self) -> Collection:
        """The exemplar dialogues."""
        return self.collection(self.spec.demos_collection, "demos")

    def max_batch(self) -> int:
        """The most records one Chroma write may carry."""
        return int(self.client.get_max_batch_size())

    def close(self) -> None:
        """Release the client and the folder's lock."""
        try:
            # `close` (refcounted per path) is on the concrete client, not on ClientAPI.
            close = getattr(self.client, "close", None)
            if close is not None:
                close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connect(spec: KnowledgeSpec, folder: Path) -> ClientAPI:
    # Telemetry off: it would try to reach the network on every start.
    settings = Settings(anonymized_telemetry=False)
    server = spec.server
    if server is None:
        return chromadb.PersistentClient(path=str(folder / CHROMA_FOLDER), settings=settings)
    try:
        client = chromadb.HttpClient(
            host=server.host,
            port=server.port,
            ssl=server.ssl,
            tenant=server.tenant,
            database=server.database,
            settings=settings,
        )
        client.heartbeat()
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise KnowledgeError(f"{spec.describe()}: cannot reach the Chroma server: {exc}") from None
    return client
