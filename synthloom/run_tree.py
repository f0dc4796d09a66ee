"""The concept tree a run covers, pinned in its run folder.

The first run builds it (imported, or the root and seeds) and, with `concepts.expand`,
grows it with the model (checkpointed: a killed expansion resumes). With a `knowledge:`
block the sources are ingested first and each node's children are proposed with the
passages retrieved for its path. It is saved as
`concepts.json` in the run folder before any sample is planned; every later command
(resume, refine, report) plans over that saved tree, so editing the source file or a
model's different answers never move a sample that already exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from rich.console import Console

from synthloom.core import names
from synthloom.spec import RunSpec

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree

TREE_FILE = names.CONCEPTS


def tree_path(spec: RunSpec) -> Path:
    """Where the run's tree is saved: `concepts.output`, else the run folder."""
    if spec.concepts is None:
        raise ValueError("the spec has no `concepts` block")
    return spec.concepts.output or spec.output / TREE_FILE


def load_run_tree(spec: RunSpec) -> ConceptTree | None:
    """The saved tree of the run; before the first run, the tree the spec names (ungrown)."""
    if spec.concepts is None:
        return None
    from knowledge.concepts.tree import ConceptTree

    path = tree_path(spec)
    if path.exists():
        return ConceptTree.load(path)
    return spec.concepts.base_tree()


def _embedder() -> Embeddings | None:
    # Semantic near-duplicate screening when the offline model is there; names otherwise.
    try:
        from knowledge.embeddings import default_embeddings
    except ImportError:  # pragma: no cover - the model ships with the package
        return None
    return default_embeddings()


async def prepare_run_tree(
    spec: RunSpec, model: BaseChatModel | None, console: Console
) -> ConceptTree | None:
    """Load the run's saved tree, or build (and grow) it and save it; None without concepts."""
    if spec.concepts is None:
        return None
    from knowledge.concepts.tree import ConceptTree

    path = tree_path(spec)
    if path.exists():
        return ConceptTree.load(path)
    base = spec.concepts.base_tree()
    settings = spec.concepts.expand
    if settings is None:
        base.save(path)
        console.print(f"concept tree: {len(base)} nodes, {len(base.leaves())} leaves → {path}")
        return base
    if model is None:
        raise ValueError("growing the concept tree needs a chat model")
    from synthloom.grow import grow_tree

    def progress(state: Mapping[str, Any]) -> None:
        grown = len(base) + len(state.get("added", []))
        console.print(f"growing the concept tree: {grown} nodes, {state.get('calls', 0)} calls")

    # Ingest first, then grow with retrieval; the base is closed again before the run opens it.
    result = await grow_tree(
        base,
        model,
        settings,
        dest=path,
        embeddings=_embedder(),
        knowledge=spec.knowledge,
        on_batch=progress,
        console=console,
    )
    summary = result.tree.graph.graph.get("expansion", {})
    console.print(
        f"concept tree grown: {len(base)} → {len(result.tree)} nodes "
        f"({len(result.tree.leaves())} leaves, {summary.get('calls', '?')} calls, "
        f"{len(result.rejections)} children rejected) → {path}"
    )
    return result.tree
