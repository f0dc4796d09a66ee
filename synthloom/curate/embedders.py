"""The embedding function curation and the report use: the knowledge base's, when present."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray

MULTILINGUAL_THRESHOLD = 0.96  # chosen on the fit half: benchmarks/bench_dedup_korean.py


# Cosine at which semantic dedup calls two samples one, per model: multilingual-e5
# packs every text into a narrow cone (distinct Korean dialogues on one theme sit at a
# median 0.94), so its threshold is higher. Measured: benchmarks/bench_dedup_korean.py.
SEMANTIC_THRESHOLDS: dict[str, float] = {
    "all-MiniLM-L6-v2": 0.95,
    "multilingual-e5-small": MULTILINGUAL_THRESHOLD,
}
DEFAULT_SEMANTIC_THRESHOLD = 0.95


def default_embedder(
    languages: Sequence[str] = (), named: Any = None
) -> tuple[Embeddings | None, str]:
    """The run's one embedder and its name, or None and why it is unavailable.

    English runs use the knowledge base's default (MiniLM); a run with any other
    planned language uses `named` (the spec's `knowledge.embedding`) when it is not
    the English model, else the offline multilingual-e5. The embedder is tried once
    here, so a missing or corrupt model file is a note in the output rather than an
    error halfway through a pass.
    """
    # Imported here: loading the ONNX runtime costs a second, and curation without a
    # semantic pass never needs it.
    from knowledge.spec import LOCAL_MODEL, MULTILINGUAL_MODEL, EmbeddingSpec

    try:
        from knowledge import embeddings as local
    except ImportError as exc:  # pragma: no cover - onnxruntime ships with the package
        return None, f"no embedder: knowledge.embeddings is not importable ({exc})"
    others = sorted({code for code in languages if code != "en"})
    factory: Callable[[], Embeddings]
    if others:
        spec = named if isinstance(named, EmbeddingSpec) and named.model != LOCAL_MODEL else None
        factory = (lambda: local.make_embeddings(spec)) if spec else local.MultilingualEmbeddings
        label = (
            embedder_name_of_spec(spec) if spec else f"{MULTILINGUAL_MODEL} (local)"
        ) + f", chosen for {', '.join(others)}"
    else:
        factory = local.default_embeddings
        label = f"{LOCAL_MODEL} (local)"
    try:
        embedder = factory()
        embedder.embed_query("synthloom")
    except Exception as exc:  # noqa: BLE001 - any failure means: run without it, and say so
        return None, f"no embedder: {type(exc).__name__}: {exc}"
    if not isinstance(embedder, Embeddings):
        return None, f"no embedder: the factory returned {type(embedder).__name__}"
    if others or type(embedder).__name__ in _OFFLINE_MODELS:
        return embedder, label
    return embedder, embedder_name(embedder)


def embedder_name_of_spec(spec: Any) -> str:
    """`model (provider)` for a knowledge base's embedding spec."""
    return f"{spec.model} ({spec.provider})"


def semantic_threshold_for(embedder: Embeddings) -> float:
    """The cosine threshold measured for this embedder's model (0.95 when unmeasured)."""
    model = _OFFLINE_MODELS.get(type(embedder).__name__) or getattr(embedder, "model", None)
    return SEMANTIC_THRESHOLDS.get(str(model), DEFAULT_SEMANTIC_THRESHOLD)


_OFFLINE_MODELS = {
    "LocalEmbeddings": "all-MiniLM-L6-v2",
    "MultilingualEmbeddings": "multilingual-e5-small",
}


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
