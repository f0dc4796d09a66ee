"""The `knowledge:` block of a run spec: where the knowledge base lives and how it is used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from synthloom.core.config import StrictModel

# The offline default embedding model (see knowledge.embeddings).
LOCAL_MODEL = "all-MiniLM-L6-v2"
# The offline multilingual model (the `multilingual` extra): Korean, Spanish, … and English.
MULTILINGUAL_MODEL = "multilingual-e5-small"
LOCAL_MODELS = (LOCAL_MODEL, MULTILINGUAL_MODEL)

# Chroma's rule for collection names.
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


class ChromaServerSpec(StrictModel):
    """A Chroma server (`chroma run`) shared by many processes or machines."""

    host: str = Field(min_length=1, description="e.g. 127.0.0.1 or chroma.internal")
    port: int = Field(default=8000, ge=1, le=65535)
    ssl: bool = False
    tenant: str = "default_tenant"
    database: str = "default_database"


class EmbeddingSpec(StrictModel):
    """Which embedding model a knowledge base uses (fixed once the base is built)."""

    provider: Literal["local", "openai"] = Field(
        default="local",
        description="`local`: a model on this machine, offline (all-MiniLM-L6-v2, int8 ONNX; "
        "or multilingual-e5-small, 4-bit, with the `multilingual` extra); "
        "`openai`: any OpenAI-compatible /v1/embeddings endpoint at `base_url`.",
    )
    model: str = Field(default=LOCAL_MODEL, min_length=1)
    base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    batch_size: int = Field(default=32, ge=1, le=2048, description="Texts per model call.")
    timeout: float = Field(default=60.0, gt=0.0, description="Seconds per request (openai).")
    max_retries: int = Field(default=4, ge=0, le=20, description="Retries of transient errors.")

    @model_validator(mode="after")
    def _check(self) -> EmbeddingSpec:
        if self.provider == "local" and self.model not in LOCAL_MODELS:
            raise ValueError(
                f"provider 'local' serves {' or '.join(map(repr, LOCAL_MODELS))} "
                f"(got {self.model!r})"
            )
        if self.provider == "openai" and self.base_url is None and self.api_key_env is None:
            raise ValueError(
                "provider 'openai' needs `base_url` (a local server) or `api_key_env` "
                "(the hosted API)"
            )
        return self

    @property
    def identity(self) -> str:
        """What a knowledge base records, so vectors of two models never get mixed."""
        return f"{self.provider}:{self.model}"


def _attributes(raw: Any) -> Any:
    """Accept `[symptom, medication]` or `{symptom: "a symptom the person has"}`."""
    if isinstance(raw, list):
        return {str(name): "" for name in raw}
    return raw


class KnowledgeSpec(StrictModel):
    """A knowledge base and how a run retrieves from it."""

    path: Path = Field(
        default=Path("kb"),
        description="The knowledge base folder: the local Chroma data (unless `server` is "
        "set), its lock, and the cache of knowledge-drawn condition values.",
    )
    server: ChromaServerSpec | None = Field(
        default=None, description="Use a Chroma server instead of the local folder."
    )
    sources: list[Path] = Field(
        default_factory=list,
        description="Files or folders ingested before a run (a no-op when nothing changed).",
    )
    demos: list[Path] = Field(
        default_factory=list, description="JSONL chat datasets added to the demo collection."
    )
    collection: str = "knowledge"
    demos_collection: str = "demos"
    embedding: EmbeddingSpec = EmbeddingSpec()
    chunk_size: int = Field(
        default=700,
        ge=100,
        le=8000,
        description="Characters per chunk (the local model reads about 1,000 at most).",
    )
    chunk_overlap: int = Field(default=100, ge=0, description="Characters shared by neighbours.")
    max_file_mb: float = Field(
        default=50.0,
        gt=0.0,
        description="Source files larger than this (MB) are skipped with their size named; "
        "raise it to ingest them.",
    )
    top_k: int = Field(default=4, ge=0, le=50, description="Knowledge snippets per sample.")
    fetch_k: int = Field(default=24, ge=1, le=500, description="Candidates MMR chooses from.")
    min_relevance: float = Field(
        default=0.25,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity below which a chunk is not used, however few remain.",
    )
    mmr_lambda: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="1 ranks by relevance only; lower favours "
        "snippets that differ from each other.",
    )
    demos_k: int = Field(default=2, ge=0, le=20, description="In-context demos per sample.")
    conditions: Annotated[dict[str, str], BeforeValidator(_attributes)] = Field(
        default_factory=dict,
        description="Condition attributes whose values are drawn from retrieved knowledge, "
        "each with a description of what to extract (e.g. symptom: a symptom the person has).",
    )
    condition_values: int = Field(
        default=6, ge=1, le=50, description="Values extracted per attribute and concept."
    )

    @model_validator(mode="after")
    def _check(self) -> KnowledgeSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size "
                f"({self.chunk_size})"
            )
        for name in (self.collection, self.demos_collection):
            if not _COLLECTION_NAME.match(name):
                raise ValueError(
                    f"collection name {name!r} must be 3-512 characters of letters, digits, "
                    "'.', '_' or '-', starting and ending with a letter or digit"
                )
        if self.collection == self.demos_collection:
            raise ValueError("collection and demos_collection must differ")
        for name in self.conditions:
            if not name.isidentifier():
                raise ValueError(f"condition name {name!r} must be a plain identifier")
        return self

    def anchored(self, folder: Path) -> KnowledgeSpec:
        """Relative `sources` and `demos` read from `folder` (the spec file's own folder).

        They ship beside the spec, so it runs from any working directory; `path`, which
        a run writes, stays relative to the working directory like a run's `output`.
        """
        return self.model_copy(
            update={
                "sources": [folder / p if not p.is_absolute() else p for p in self.sources],
                "demos": [folder / p if not p.is_absolute() else p for p in self.demos],
            }
        )

    def describe(self) -> str:
        """Where the knowledge base is, for messages."""
        if self.server is not None:
            scheme = "https" if self.server.ssl else "http"
            return f"chroma server {scheme}://{self.server.host}:{self.server.port}"
        return str(self.path)
