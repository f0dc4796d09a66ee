"""User-facing errors: one clear message naming what is wrong and where."""

from __future__ import annotations


class SynthloomError(Exception):
    """An error the CLI reports as one message and a non-zero exit, without a traceback."""


class SpecError(SynthloomError):
    """The run spec is missing, unreadable, or fails validation."""


class EndpointError(SynthloomError):
    """A model endpoint cannot be reached or refuses our credentials."""


class RunDirError(SynthloomError):
    """The output folder holds files that do not belong to this run."""


class PromptError(SynthloomError, ValueError):
    """A template file is malformed or was rendered with the wrong variables."""


class ConceptTreeError(SynthloomError):
    """A concept tree file is missing, malformed, or not a tree."""


class ChatDataError(SynthloomError):
    """A chat dataset that cannot be read, named by file and record."""


class KnowledgeError(SynthloomError):
    """A knowledge base cannot be opened, read or written as asked."""


class EmbeddingModelError(KnowledgeError):
    """The embedding model is missing, altered, or its endpoint is misconfigured."""


class KnowledgeBaseLockedError(KnowledgeError):
    """Another process holds a local knowledge base (a Chroma folder serves one process)."""


class DemoFileError(KnowledgeError):
    """A demos file is missing or holds no usable dialogue."""


def yaml_error(source: object, exc: Exception) -> str:
    """`FILE:LINE: invalid YAML: problem` for a PyYAML error (its own dump spans lines)."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{source}{where}: invalid YAML: {problem}"
