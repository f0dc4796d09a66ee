"""User-facing errors of the knowledge base, each one clear message for the CLI."""

from __future__ import annotations

from synthloom.errors import SynthloomError


class KnowledgeError(SynthloomError):
    """A knowledge base cannot be opened, read or written as asked."""


class EmbeddingModelError(KnowledgeError):
    """The embedding model is missing, altered, or its endpoint is misconfigured."""


class KnowledgeBaseLockedError(KnowledgeError):
    """Another process holds a local knowledge base (a Chroma folder serves one process)."""


class DemoFileError(KnowledgeError):
    """A demos file is missing or holds no usable dialogue."""
