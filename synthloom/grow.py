"""Grow a concept tree: build the expansion graph's context, run or resume it, save the tree.

Both `synthloom run` (a spec with `concepts.expand`) and `synthloom tree expand`
grow trees through `grow_tree`, so they checkpoint, resume and record rejected
children the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Durability

from agents.expander import build_expander
from graphs.expansion import (
    ExpansionContext,
    ExpansionInput,
    Failure,
    Grounder,
    Rejection,
    build_expansion_graph,
    grown_tree,
)
from knowledge.concepts import ConceptTree
from knowledge.concepts.screen import Screener
from knowledge.concepts.spec import ExpandSpec
from knowledge.spec import KnowledgeSpec
from synthloom.core import names
from synthloom.core.store import rewrite_jsonl


def expansion_context(
    tree: ConceptTree,
    model: BaseChatModel,
    settings: ExpandSpec | None = None,
    *,
    embeddings: Embeddings | None = None,
    ground: Grounder | None = None,
    prompt_dir: str | None = None,
) -> ExpansionContext:
    """The graph's context: the expander role on `model`, the screen (semantic with embeddings)."""
    settings = settings or ExpandSpec()
    expander = build_expander(model, max_reasks=settings.max_reasks, prompt_dir=prompt_dir)
    screener = Screener(settings.rules(), embeddings)
    return ExpansionContext(
        tree=tree, expander=expander, screener=screener, settings=settings, ground=ground
    )


@dataclass(frozen=True)
class ExpansionResult:
    """A grown tree and the expansion's records."""

    tree: ConceptTree
    output: dict[str, Any]
    resumed: bool

    @property
    def rejections(self) -> list[Rejection]:
        """Proposed children that were screened out, with reasons."""
        return list(self.output.get("rejections", []))

    @property
    def failures(self) -> list[Failure]:
        """Nodes whose expansion failed, with reasons."""
        return list(self.output.get("failures", []))


def thread_id_for(ctx: ExpansionContext) -> str:
    """A checkpoint thread per (tree, settings): the same job resumes, another one starts."""
    blob = f"{ctx.base}:{ctx.settings.model_dump_json()}"
    return "expand-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


async def expand_tree(
    ctx: ExpansionContext,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    thread_id: str | None = None,
    on_batch: Callable[[Mapping[str, Any]], None] | None = None,
) -> ExpansionResult:
    """Run (or resume, when the checkpointer holds this thread) an expansion to its end."""
    graph = build_expansion_graph().compile(checkpointer=checkpointer, name="expansion")
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id or thread_id_for(ctx)},
        # Three steps per batch, and every batch spends at least one call.
        "recursion_limit": 3 * ctx.settings.max_calls + 10,
    }
    resumed = False
    payload: ExpansionInput | None = {"base": ctx.base}
    if checkpointer is not None:
        snapshot = await graph.aget_state(config)
        if snapshot.values:
            resumed, payload = True, None
            if not snapshot.next:  # finished before: nothing to run
                return ExpansionResult(
                    grown_tree(ctx.tree, snapshot.values, ctx.settings), dict(snapshot.values), True
                )
    final: dict[str, Any] = {}
    batch_done = False
    # A batch's checkpoint is on disk before the next batch starts its calls.
    durability: Durability | None = "sync" if checkpointer is not None else None
    async for mode, chunk in graph.astream(
        payload, config, context=ctx, stream_mode=["updates", "values"], durability=durability
    ):
        if mode == "updates":
            batch_done = "add_children" in chunk
        else:
            final = dict(cast("Mapping[str, Any]", chunk))
            if batch_done and on_batch is not None:
                on_batch(final)
    return ExpansionResult(grown_tree(ctx.tree, final, ctx.settings), final, resumed)


async def grow_tree(
    base: ConceptTree,
    model: BaseChatModel,
    settings: ExpandSpec,
    *,
    dest: Path,
    embeddings: Embeddings | None,
    knowledge: KnowledgeSpec | None,
    on_batch: Callable[[Mapping[str, Any]], None] | None = None,
    console: Any = None,
) -> ExpansionResult:
    """Grow `base` (resuming from `DEST.checkpoints.sqlite`), save it to `dest` with its rejections.

    With a knowledge base the sources are ingested first and each node's children
    are proposed with the passages retrieved for its path. The rejections file is
    written before the tree: the tree's presence means the expansion is final.
    """
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from knowledge.grounding import open_knowledge

    checkpoints = dest.with_name(dest.name + ".checkpoints.sqlite")
    checkpoints.parent.mkdir(parents=True, exist_ok=True)
    with open_knowledge(knowledge, model=model, console=console) as base_of_knowledge:
        ground = base_of_knowledge.passages if base_of_knowledge is not None else None
        ctx = expansion_context(base, model, settings, embeddings=embeddings, ground=ground)
        async with AsyncSqliteSaver.from_conn_string(str(checkpoints)) as saver:
            result = await expand_tree(ctx, checkpointer=saver, on_batch=on_batch)
    records = [{"type": "rejected", **r} for r in result.rejections]
    records += [{"type": "failed", **f} for f in result.failures]
    rewrite_jsonl(dest.with_name(names.rejections_file(dest.name)), records)
    result.tree.save(dest)
    return result
