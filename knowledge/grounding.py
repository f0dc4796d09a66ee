"""What a run needs from its knowledge base, behind one object: `KnowledgeBase.ground`.

Per sample it returns the knowledge snippets for the assistant's prompt, the
in-context demos, the knowledge-drawn condition values and the ids of the chunks
that reached the prompt (the record's `sources`). Everything depends only on the
knowledge base, the spec and the sample's seed, so a resumed sample is grounded
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from rich.console import Console

from knowledge.demos import Demo, DemoSelector, DemoSummary, add_demos
from knowledge.extraction import CACHE_FILE, ConditionExtractor, draw_conditions
from knowledge.ingest import IngestSummary, ingest
from knowledge.retrieval import Chunk, Retriever
from knowledge.spec import KnowledgeSpec
from knowledge.store import KnowledgeStore
from synthloom.core.records import Grounded, Plan, Usage

# Passages shown to the condition extractor per concept: wider than a prompt's top_k,
# so the lists of values have room to vary.
EXTRACT_K = 8


@dataclass(frozen=True)
class Grounding:
    """The knowledge one sample is generated with."""

    snippets: list[Chunk] = field(default_factory=list)
    demos: list[Demo] = field(default_factory=list)
    conditions: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    usage: Usage = Usage()
    missing: tuple[str, ...] = ()
    """Knowledge-drawn attributes no cited passage gave a value for."""

    def as_state(self) -> Grounded:
        """JSON-native form for graph state and records."""
        state: Grounded = {
            "knowledge": [c.as_dict() for c in self.snippets],
            "demos": [d.as_dict() for d in self.demos],
            "knowledge_conditions": dict(self.conditions),
            "sources": list(self.sources),
        }
        if self.missing:
            state["missing_conditions"] = list(self.missing)
        return state


class KnowledgeBase:
    """An open knowledge base with its retriever, demo selector and condition extractor."""

    def __init__(
        self,
        spec: KnowledgeSpec,
        *,
        model: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        purpose: str = "synthloom run",
    ) -> None:
        if spec.conditions and model is None:
            raise ValueError("knowledge.conditions needs a chat model to extract values")
        self.spec = spec
        self.store = KnowledgeStore(spec, embeddings, purpose=purpose, create=False)
        self.retriever = Retriever(
            self.store.knowledge,
            self.store.embeddings,
            top_k=spec.top_k,
            fetch_k=spec.fetch_k,
            min_relevance=spec.min_relevance,
            mmr_lambda=spec.mmr_lambda,
        )
        self.demo_selector = DemoSelector(self.store.demos, self.store.embeddings)
        self.extractor = (
            ConditionExtractor(
                model,
                spec.conditions,
                cache_path=Path(spec.path) / CACHE_FILE,
                per_attribute=spec.condition_values,
            )
            if model is not None and spec.conditions
            else None
        )

    async def ground(
        self, topic: str, conditions: Mapping[str, str] | None = None, *, seed: str
    ) -> Grounding:
        """Snippets, demos and knowledge-drawn conditions for one sample about `topic`."""
        conditions = dict(conditions or {})
        drawn: dict[str, str] = {}
        required: list[Chunk] = []
        usage = Usage()
        missing: tuple[str, ...] = ()
        if self.extractor is not None:
            context = await self.retriever.aretrieve(topic, max(EXTRACT_K, self.spec.top_k))
            extraction = await self.extractor.extract(topic, context)
            usage, missing = extraction.usage, extraction.missing
            drawn, condition_sources = draw_conditions(extraction.values, seed)
            by_id = {c.id: c for c in context}
            required = [by_id[i] for i in condition_sources if i in by_id]
        queries = [topic, *(f"{topic}: {v}" for v in {**conditions, **drawn}.values())]
        found = await self.retriever.aretrieve_many(queries, self.spec.top_k + len(required))
        taken = {c.id for c in required}
        others = [c for c in found if c.id not in taken]
        snippets = required + others[: max(0, self.spec.top_k - len(required))]
        demos = await self.demo_selector.aselect(topic, self.spec.demos_k, seed=seed)
        return Grounding(
            snippets=snippets,
            demos=demos,
            conditions=drawn,
            sources=[c.id for c in snippets],
            usage=usage,
            missing=missing,
        )

    async def passages(self, query: str) -> list[str]:
        """The texts of the top passages for `query`: what grounds concept expansion."""
        return [chunk.text for chunk in await self.retriever.aretrieve(query)]

    def missing_conditions(self) -> dict[str, tuple[str, ...]]:
        """Concept → knowledge-drawn attributes this run found no cited value for."""
        return dict(self.extractor.missing) if self.extractor is not None else {}

    def close(self) -> None:
        """Release the knowledge base (and its folder lock)."""
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def ground_plan(base: KnowledgeBase, plan: Plan) -> tuple[Plan, Grounding]:
    """The plan with its knowledge-drawn conditions merged in, and its grounding.

    Seeded by the plan id, so a resumed or repeated sample is grounded the same way;
    the plan's own conditions win over a drawn value of the same name.
    """
    found = await base.ground(plan.topic, plan.conditions, seed=plan.id)
    merged = dict(plan.conditions)
    for name, value in found.conditions.items():
        merged.setdefault(name, value)
    return plan.model_copy(update={"conditions": merged}), found


def prepare_knowledge(
    spec: KnowledgeSpec,
    *,
    embeddings: Embeddings | None = None,
    console: Console | None = None,
    extra_sources: Sequence[Path] = (),
    log: Console | None = None,
) -> tuple[IngestSummary | None, list[DemoSummary]]:
    """Ingest the spec's sources and demos (a no-op when nothing changed)."""
    sources = [*spec.sources, *extra_sources]
    if not sources and not spec.demos:
        return None, []
    with KnowledgeStore(spec, embeddings, purpose="synthloom ingest") as store:
        summary = ingest(store, sources, console=console, log=log) if sources else None
        demos = [add_demos(store, Path(path)) for path in spec.demos]
    return summary, demos


def describe_preparation(
    spec: KnowledgeSpec, summary: IngestSummary | None, demos: Sequence[DemoSummary]
) -> list[str]:
    """One line per step of a run's knowledge preparation, plus each skipped input."""
    lines: list[str] = []
    if summary is not None:
        lines.append(
            f"knowledge {spec.describe()}: {summary.files} files, {summary.added} chunks added, "
            f"{summary.updated} updated, {summary.unchanged} unchanged, {summary.removed} "
            f"removed; {summary.total} in all"
        )
        lines += [f"  skipped {s.source}: {s.reason}" for s in summary.skipped]
    for path, demo in zip(spec.demos, demos, strict=True):
        lines.append(f"demos {path}: {demo.added} added, {demo.unchanged} already present")
        lines += [f"  skipped {s.source}: {s.reason}" for s in demo.skipped]
    return lines


@contextmanager
def open_knowledge(
    spec: KnowledgeSpec | None,
    *,
    model: BaseChatModel | None = None,
    console: Console | None = None,
    progress: bool = False,
) -> Iterator[KnowledgeBase | None]:
    """For a run: ingest what the spec lists (a no-op if unchanged), then hold the base open.

    Yields None when the spec has no knowledge block, so callers need no branch. The
    summary goes to `console`; `progress` adds the ingest's progress bar.
    """
    if spec is None:
        yield None
        return
    summary, demos = prepare_knowledge(
        spec, console=console if progress else None, log=None if progress else console
    )
    if console is not None:
        for line in describe_preparation(spec, summary, demos):
            console.print(line, markup=False, highlight=False)
    with KnowledgeBase(spec, model=model) as base:
        yield base
