"""The embedding function curation and the report use: the knowledge base's, when present."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray

KNOWLEDGE_MODULE = "knowledge.embeddings"


def default_embedder() -> tuple[Embeddings | None, str]:
    """The knowledge base's default embedder and its name, or None and why it is unavailable.

    The embedder is tried once here, so a missing or corrupt model file is a note
    in the output rather than an error halfway through a pass.
    """
    try:
        module: Any = importlib.import_module(KNOWLEDGE_MODULE)
    except ImportError as exc:
        return None, f"no embedder: {KNOWLEDGE_MODULE} is not importable ({exc})"
    factory = getattr(module, "default_embeddings", None)
    if factory is None:
        return None, f"no embedder: {KNOWLEDGE_MODULE} has no default_embeddings()"
    try:
        embedder = factory()
        embedder.embed_query("synthloom")
    except Exception as exc:  # noqa: BLE001 - any failure means: run without it, and say so
        return None, f"no embedder: {type(exc).__name__}: {exc}"
    if not isinstance(embedder, Embeddings):
        return None, f"no embedder: default_embeddings() returned {type(embedder).__name__}"
    local = getattr(module, "LocalEmbeddings", None)
    if local is not None and isinstance(embedder, local):
        return embedder, f"{getattr(module, 'LOCAL_MODEL', 'local model')} (local)"
    return embedder, embedder_name(embedder)


def embedder_name(embedder: Embeddings) -> str:
    """A readable name for reports: the model name when the embedder has one."""
    for attr in ("model_name", "model"):
        value = getattr(embedder, attr, None)
        if isinstance(value, str) and value:
            return f"{type(embedder).__name__}({value})"
    return type(embedder).__name__


def embed_normalized(
    embedder: Embeddings, texts: Sequence[str], batch: int = 256
) -> NDArray[np.float32]:
    """Unit-length embedding rows of the texts (zero rows stay zero)."""
    rows: list[list[float]] = []
    for start in range(0, len(texts), batch):
        rows.extend(embedder.embed_documents(list(texts[start : start + batch])))
    matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: NDArray[np.float32] = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return normalized
