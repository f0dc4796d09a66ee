"""The `concepts:` block of a run spec: which tree a dataset covers and how to grow it.

```yaml
concepts:
  seeds: [Hypertension, Type 2 diabetes, Asthma]   # or: tree: concepts.json
  root: Chronic disease care
  expand: {max_depth: 3, children_per_node: 8, max_nodes: 400}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from synthloom.core.config import StrictModel

if TYPE_CHECKING:  # the spec is read by every command; the tree code loads on first use
    from knowledge.concepts import ConceptTree
    from knowledge.concepts.screen import ScreenRules


class ExpandSpec(StrictModel):
    """Budgets and rules of a breadth-first expansion of the tree."""

    max_depth: int = Field(
        default=3, ge=1, le=16, description="Grow nodes down to this depth (the root is 0)."
    )
    children_per_node: int = Field(
        default=8, ge=1, le=64, description="Children asked for, and kept at most, per node."
    )
    max_nodes: int = Field(
        default=2000, ge=1, le=2_000_000, description="Stop when the tree has this many nodes."
    )
    max_calls: int = Field(
        default=1000, ge=1, description="Model calls allowed in all, re-asks included."
    )
    max_reasks: int = Field(
        default=2, ge=0, le=10, description="Re-asks of an answer that does not parse, per node."
    )
    batch_size: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Nodes expanded per checkpointed step (at least 1/16 of the tree).",
    )
    concurrency: int = Field(default=8, ge=1, le=1024, description="Model calls in flight.")
    overlap_threshold: float = Field(
        default=0.75,
        gt=0.0,
        le=1.0,
        description="Word overlap (Jaccard) at which a child is a near-duplicate.",
    )
    similarity_threshold: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="Embedding cosine at which a child is a near-duplicate (with embeddings).",
    )
    min_relevance: float = Field(
        default=0.15,
        ge=-1.0,
        le=1.0,
        description="Embedding cosine to its parent's path below which a child is off-topic.",
    )
    exclude: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Out-of-scope terms: a child naming one is off-topic."
    )
    instructions: str | None = Field(
        default=None, description="Extra guidance for the expander (audience, scope, style)."
    )

    def rules(self) -> ScreenRules:
        """The screen's thresholds."""
        from knowledge.concepts.screen import ScreenRules

        return ScreenRules(
            similarity_threshold=self.similarity_threshold,
            overlap_threshold=self.overlap_threshold,
            min_relevance=self.min_relevance,
            exclude=tuple(self.exclude),
        )


class ConceptsSpec(StrictModel):
    """The concept tree of a run: a tree file, or seed topics, optionally grown further."""

    tree: Path | None = Field(
        default=None,
        description="A saved tree or an importable file (.json node-link/outline, .yaml, .obo).",
    )
    seeds: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Seed topics, the children of `root`."
    )
    root: str = Field(
        default="Topics",
        min_length=1,
        description="Name of the root above the seeds (or above a multi-rooted import).",
    )
    max_depth: int | None = Field(
        default=None, ge=0, description="Cut an imported tree below this depth."
    )
    multi_parent: Literal["first", "all"] = Field(
        default="first",
        description=(
            "A concept under several parents (OBO is_a, an outline): `first` keeps it once "
            "(other parents in also_under), `all` under each parent (counted once)."
        ),
    )
    expand: ExpandSpec | None = Field(
        default=None, description="Grow the tree with the model before planning."
    )
    output: Path | None = Field(
        default=None,
        description="Where the (grown) tree is saved; default: concepts.json in the run folder.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ConceptsSpec:
        if (self.tree is None) == (not self.seeds):
            raise ValueError("give either `tree` (a file) or `seeds` (a list of topics)")
        if len({s.strip().casefold() for s in self.seeds}) != len(self.seeds):
            raise ValueError("`seeds` lists a topic twice")
        return self

    def anchored(self, folder: Path) -> ConceptsSpec:
        """A relative `tree` file read from `folder` (the spec file's own folder).

        It ships beside the spec, like knowledge sources, so a spec runs from any
        working directory; `output`, which a run writes, stays relative to where you run.
        """
        if self.tree is None or self.tree.is_absolute():
            return self
        return self.model_copy(update={"tree": folder / self.tree})

    def base_tree(self) -> ConceptTree:
        """The tree this block names: its file imported (and cut), or the root and seeds."""
        from knowledge.concepts import ConceptTree
        from knowledge.concepts.importers import import_tree
        from synthloom.core.errors import ConceptTreeError

        if self.tree is None:
            return ConceptTree.from_seeds(self.seeds, root=self.root)
        # Only an explicit `root` wraps a multi-rooted file; otherwise that is an error.
        root = self.root if "root" in self.model_fields_set else None
        try:
            return import_tree(
                self.tree, root=root, max_depth=self.max_depth, multi_parent=self.multi_parent
            )
        except ConceptTreeError as exc:  # say which spec field named the file
            raise ConceptTreeError(f"concepts.tree: {exc}") from None

    def identity(self) -> dict[str, Any]:
        """What decides the dataset's tree, for the run's plan fingerprint.

        The tree file by name, not by the absolute path `anchored` gave it (sample ids
        must not depend on where a checkout lives); not `output` (where it is saved) nor
        `expand.concurrency` (how fast it grows).
        """
        data = self.model_dump(mode="json", exclude={"output"})
        if self.tree is not None:
            data["tree"] = self.tree.name
        if isinstance(data.get("expand"), dict):
            data["expand"].pop("concurrency", None)
        if data.get("multi_parent") == "first":  # the default: ids of older specs stay put
            data.pop("multi_parent")
        return data
