"""The expansion graph: grows the concept tree breadth-first with the model.

    START → select_frontier ─┬→ propose_children → add_children → select_frontier …
                             └→ END (depth reached, or the node or call budget spent)

`select_frontier` takes the shallowest childless nodes (a batch); `propose_children`
asks the expander for each one's children, grounded in retrieved snippets when a
retriever is given; `add_children` screens the proposals (duplicates and
near-duplicates of siblings, ancestors and of names in other branches of the same
top-level topic, over-generic and off-topic names) and adds the rest. The tree
given in the context is never changed: the state holds only what the expansion
added (checkpoints do not repeat the starting tree), and an interrupted expansion
resumes at the batch it was in. `grown_tree` applies a
result to the tree.
"""

from __future__ import annotations

import asyncio
import math
import operator
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from agents.expander import Expander
from agents.llm import classify_error, describe_error
from agents.structured import ModelOutputError
from knowledge.concepts import PATH_SEPARATOR, ConceptTree, child_id
from knowledge.concepts.screen import Family, NameIndex, Proposed, Screener
from knowledge.concepts.spec import ExpandSpec
from synthloom.core.errors import ConceptTreeError
from synthloom.core.records import Usage, UsageDict, add_usage

Grounder = Callable[[str], Awaitable[list[str]]]
"""Concept path (names joined by ' > ') → knowledge snippets about it."""

StopReason = Literal["complete", "max_nodes", "max_calls"]
BATCH_FRACTION = 16


class NodeRow(TypedDict):
    """A node the expansion added."""

    id: str
    parent: str
    name: str
    description: str
    depth: int


class Proposal(TypedDict):
    """The expander's answer for one frontier node (or why there is none)."""

    parent: str
    children: list[dict[str, str]]
    snippets: list[str]
    usage: UsageDict
    error: str | None


class Rejection(TypedDict):
    """A proposed child that was not added, with the screen's reason."""

    parent: str
    name: str
    kind: str
    reason: str


class Failure(TypedDict):
    """A node the expander could not expand (bad answers, or a request refused)."""

    node: str
    reason: str
    calls: int


def _merge_status(left: dict[str, str] | None, right: dict[str, str] | None) -> dict[str, str]:
    return {**(left or {}), **(right or {})}


class ExpansionInput(TypedDict):
    """What a caller provides: the fingerprint of the tree in the context."""

    base: str


class ExpansionState(TypedDict, total=False):
    """The expansion so far; what it added and recorded only ever accumulates."""

    base: str
    added: Annotated[list[NodeRow], operator.add]
    status: Annotated[dict[str, str], _merge_status]
    frontier: list[str]
    allowance: int
    proposals: list[Proposal]
    rejections: Annotated[list[Rejection], operator.add]
    failures: Annotated[list[Failure], operator.add]
    usage: Annotated[UsageDict, add_usage]
    calls: Annotated[int, operator.add]
    batches: Annotated[int, operator.add]
    stop_reason: StopReason | None


class ExpansionOutput(TypedDict, total=False):
    """What a finished expansion reports (apply it with `grown_tree`)."""

    base: str
    added: list[NodeRow]
    status: dict[str, str]
    rejections: list[Rejection]
    failures: list[Failure]
    usage: UsageDict
    calls: int
    batches: int
    stop_reason: StopReason | None


@dataclass(frozen=True)
class ExpansionContext:
    """Run-scoped dependencies, built by the caller: the tree, the role, the screen, budgets.

    The expander (the LLM role) and the screener (near-duplicate and relevance rules,
    semantic when it has embeddings) come in ready-made, as a dialogue's roles do;
    `ground` retrieves snippets for a path. What is derived from the tree (its
    fingerprint, which ties checkpoints to it, and the name indexes) is computed once.
    """

    tree: ConceptTree
    expander: Expander
    screener: Screener
    settings: ExpandSpec = ExpandSpec()
    ground: Grounder | None = None
    base: str = field(init=False)
    _base_leaves: list[str] = field(init=False, repr=False)
    _added: _AddedIndex = field(init=False, repr=False)
    _cousins: _CousinIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.tree.fingerprint())
        object.__setattr__(self, "_base_leaves", self.tree.leaves())
        object.__setattr__(self, "_added", _AddedIndex())
        threshold = self.settings.overlap_threshold
        object.__setattr__(self, "_cousins", _CousinIndex(self.tree, threshold))


def _check_base(state: ExpansionState, ctx: ExpansionContext) -> None:
    if state["base"] != ctx.base:
        raise ConceptTreeError(
            "this checkpointed expansion grew another tree; start a new thread for this one"
        )


class _AddedIndex:
    """The added rows by id and by parent, extended as the rows grow (they only append)."""

    def __init__(self) -> None:
        self.rows: dict[str, NodeRow] = {}
        self.kids: dict[str, list[str]] = {}
        self.order: list[str] = []

    def sync(self, added: Sequence[NodeRow]) -> None:
        known = len(self.order)
        if known > len(added) or (known and added[known - 1]["id"] != self.order[-1]):
            # Not a continuation of what was indexed (another thread): index afresh.
            self.rows, self.kids, self.order, known = {}, {}, [], 0
        for row in added[known:]:
            self.rows[row["id"]] = row
            self.kids.setdefault(row["parent"], []).append(row["id"])
            self.order.append(row["id"])


class _CousinIndex:
    """Names per top-level topic (the tree's, then the added rows'), kept in step with them."""

    def __init__(self, tree: ConceptTree, threshold: float) -> None:
        self.threshold = threshold
        self.base: dict[str, NameIndex] = {}
        for node in tree.nodes():
            top = _top_of(tree.parent, node)
            if top is not None and top != node:
                self._branch(self.base, top).add(tree.name(node))
        self.added: dict[str, NameIndex] = {}
        self.indexed: list[str] = []

    def _branch(self, indexes: dict[str, NameIndex], top: str) -> NameIndex:
        index = indexes.get(top)
        if index is None:
            parent = self.base.get(top) if indexes is not self.base else None
            index = indexes[top] = (
                parent.child() if parent is not None else NameIndex(self.threshold)
            )
        return index

    def sync(self, view: _View, added: Sequence[NodeRow]) -> None:
        known = len(self.indexed)
        if known > len(added) or (known and added[known - 1]["id"] != self.indexed[-1]):
            self.added, self.indexed, known = {}, [], 0  # another thread: index afresh
        for row in added[known:]:
            top = view.top(row["id"])
            if top is not None and top != row["id"]:
                self._branch(self.added, top).add(row["name"])
            self.indexed.append(row["id"])

    def for_batch(self, top: str | None, batch: dict[str, NameIndex]) -> NameIndex | None:
        """The branch's names with an overlay for this batch's additions (None at the root)."""
        if top is None:
            return None
        if top not in batch:
            known = self.added.get(top) or self.base.get(top)
            batch[top] = known.child() if known is not None else NameIndex(self.threshold)
        return batch[top]


def _top_of(parent_of: Callable[[str], str | None], node: str) -> str | None:
    """The node's top-level topic (the root's child above it; itself at depth 1)."""
    chain = [node]
    while (up := parent_of(chain[-1])) is not None:
        chain.append(up)
    return chain[-2] if len(chain) >= 2 else None


class _View:
    """The context's tree plus the rows added so far, read-only."""

    def __init__(self, ctx: ExpansionContext, state: ExpansionState) -> None:
        _check_base(state, ctx)
        ctx._added.sync(state.get("added", []))
        self.tree = ctx.tree
        self.rows = ctx._added.rows
        self.kids = ctx._added.kids
        self._paths: dict[str, list[str]] = {}
        ctx._cousins.sync(self, state.get("added", []))

    def __len__(self) -> int:
        return len(self.tree) + len(self.rows)

    def name(self, node: str) -> str:
        row = self.rows.get(node)
        return row["name"] if row else self.tree.name(node)

    def description(self, node: str) -> str:
        row = self.rows.get(node)
        return row["description"] if row else self.tree.description(node)

    def depth(self, node: str) -> int:
        row = self.rows.get(node)
        return row["depth"] if row else self.tree.depth(node)

    def children(self, node: str) -> list[str]:
        base = self.tree.children(node) if node in self.tree else []
        return [*base, *self.kids.get(node, [])]

    def lineage(self, node: str) -> list[str]:
        """Ids from the root down to the node."""
        chain = [node]
        while (row := self.rows.get(chain[-1])) is not None:
            chain.append(row["parent"])
        up = self.tree.parent(chain[-1])
        while up is not None:
            chain.append(up)
            up = self.tree.parent(up)
        return chain[::-1]

    def top(self, node: str) -> str | None:
        """The node's top-level topic (None for the root)."""
        lineage = self.lineage(node)
        return lineage[1] if len(lineage) >= 2 else None

    def path(self, node: str) -> list[str]:
        if node not in self._paths:
            self._paths[node] = [self.name(n) for n in self.lineage(node)]
        return self._paths[node]


def select_frontier(state: ExpansionState, runtime: Runtime[ExpansionContext]) -> dict[str, Any]:
    """Pick the next batch of shallowest childless nodes, or say why growth stops."""
    ctx, spec = runtime.context, runtime.context.settings
    _check_base(state, ctx)
    added = state.get("added", [])
    nodes_left = spec.max_nodes - len(ctx.tree) - len(added)
    calls_left = spec.max_calls - state.get("calls", 0)
    if nodes_left <= 0:
        return {"frontier": [], "stop_reason": "max_nodes"}
    if calls_left <= 0:
        return {"frontier": [], "stop_reason": "max_calls"}
    done = state.get("status", {})
    parents = {row["parent"] for row in added}
    nodes = ctx.tree.graph.nodes
    # Starting-tree leaves a previous expansion marked "expanded" (all children
    # rejected) stay leaves; "failed" ones are tried again.
    base = [
        (nodes[n]["depth"], n) for n in ctx._base_leaves if nodes[n].get("status") != "expanded"
    ]
    grown = [(row["depth"], row["id"]) for row in added]
    candidates = [
        (depth, n)
        for depth, n in [*base, *grown]
        if depth < spec.max_depth and n not in done and n not in parents
    ]
    if not candidates:
        return {"frontier": [], "stop_reason": "complete"}
    candidates.sort(key=operator.itemgetter(0))  # stable: breadth-first, in tree order
    per_node = spec.max_reasks + 1
    # Batches grow with the tree (at least 1/16 of it), so the checkpoints written,
    # each holding what was added so far, add up to a few times the tree, not its square.
    size = min(
        max(spec.batch_size, math.ceil((len(ctx.tree) + len(added)) / BATCH_FRACTION)),
        math.ceil(nodes_left / spec.children_per_node),
        max(1, calls_left // per_node),
    )
    frontier = [n for _, n in candidates[:size]]
    return {"frontier": frontier, "allowance": min(per_node, calls_left), "stop_reason": None}


async def propose_children(
    state: ExpansionState, runtime: Runtime[ExpansionContext]
) -> dict[str, Any]:
    """Ask the expander for the children of every frontier node, a few at a time."""
    ctx = runtime.context
    view = _View(ctx, state)
    limit = asyncio.Semaphore(ctx.settings.concurrency)

    async def one(node: str) -> Proposal:
        async with limit:
            return await _propose(ctx, view, node, state["allowance"])

    tasks = [asyncio.ensure_future(one(node)) for node in state["frontier"]]
    try:
        proposals = await asyncio.gather(*tasks)
    except BaseException:
        # Endpoint trouble: stop the batch's other calls and re-raise the error itself.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    usage = sum((Usage.of(p["usage"]) for p in proposals), Usage())
    return {"proposals": proposals, "usage": usage.as_dict(), "calls": usage.calls}


async def _propose(ctx: ExpansionContext, view: _View, node: str, allowance: int) -> Proposal:
    path = view.path(node)
    snippets = list(await ctx.ground(PATH_SEPARATOR.join(path))) if ctx.ground else []
    existing = [view.name(c) for c in view.children(node)]
    text = ctx.expander.render(
        path=path,
        description=view.description(node),
        existing=existing,
        count=max(1, ctx.settings.children_per_node - len(existing)),
        knowledge=snippets,
        instructions=ctx.settings.instructions,
    )
    proposal = Proposal(
        parent=node, children=[], snippets=snippets, usage=Usage().as_dict(), error=None
    )
    try:
        children, usage = await ctx.expander.propose(text, max_calls=allowance)
    except ModelOutputError as exc:
        return {**proposal, "usage": exc.usage.as_dict(), "error": exc.reason}
    except Exception as exc:
        if classify_error(exc) != "sample":
            raise  # endpoint trouble: stop here; a re-run resumes this batch
        return {**proposal, "usage": Usage(calls=1).as_dict(), "error": describe_error(exc)}
    kept = [{"name": c.name.strip(), "description": c.description.strip()} for c in children]
    return {**proposal, "children": kept, "usage": usage.as_dict()}


async def add_children(state: ExpansionState, runtime: Runtime[ExpansionContext]) -> dict[str, Any]:
    """Screen the proposals and add the children that pass, within the budgets."""
    ctx, spec = runtime.context, runtime.context.settings
    view = _View(ctx, state)
    proposals = state.get("proposals", [])
    batch: dict[str, NameIndex] = {}
    families = {p["parent"]: _family(view, p, ctx, batch) for p in proposals}
    offered = {
        p["parent"]: [Proposed(c["name"], c["description"]) for c in p["children"]]
        for p in proposals
    }
    await ctx.screener.prepare(
        text
        for parent, family in families.items()
        for text in Screener.texts_for(offered[parent], family)
    )
    room = spec.max_nodes - len(view)
    rows: list[NodeRow] = []
    rejections: list[Rejection] = []
    failures: list[Failure] = []
    status: dict[str, str] = {}
    for p in proposals:
        parent = p["parent"]
        if p["error"] is not None:
            failures.append(Failure(node=parent, reason=p["error"], calls=p["usage"]["calls"]))
            status[parent] = "failed"
            continue
        status[parent] = "expanded"
        kept = 0
        for verdict in ctx.screener.screen(offered[parent], families[parent]):
            if verdict.accepted and (kept >= spec.children_per_node or room <= 0):
                budget = "children_per_node" if room > 0 else "max_nodes"
                rejections.append(
                    Rejection(
                        parent=parent, name=verdict.name, kind="budget", reason=f"over {budget}"
                    )
                )
            elif verdict.accepted:
                cousins = families[parent].cousins
                if cousins is not None:
                    cousins.add(verdict.name)
                rows.append(
                    NodeRow(
                        id=child_id(parent, verdict.name),
                        parent=parent,
                        name=verdict.name,
                        description=verdict.description,
                        depth=view.depth(parent) + 1,
                    )
                )
                kept, room = kept + 1, room - 1
            else:
                rejections.append(
                    Rejection(
                        parent=parent,
                        name=verdict.name,
                        kind=verdict.kind or "invalid",
                        reason=verdict.reason or "",
                    )
                )
    return {
        "added": rows,
        "status": status,
        "rejections": rejections,
        "failures": failures,
        "proposals": [],
        "frontier": [],
        "batches": 1,
    }


def _family(
    view: _View, proposal: Proposal, ctx: ExpansionContext, batch: dict[str, NameIndex]
) -> Family:
    lineage = view.lineage(proposal["parent"])
    described = [f"{view.name(n)}: {view.description(n)}" for n in lineage]
    # A child of the root starts a topic of its own: it has no cousins to compare with.
    top = lineage[1] if len(lineage) >= 2 else None
    return Family(
        ancestors=[view.name(n) for n in lineage],
        siblings=[view.name(c) for c in view.children(proposal["parent"])],
        context=[*described, *proposal["snippets"]],
        cousins=ctx._cousins.for_batch(top, batch),
    )


def route_after_select(state: ExpansionState) -> Literal["propose_children", "__end__"]:
    """Grow while there is a frontier; stop when a budget or the depth says so."""
    return "propose_children" if state.get("frontier") else "__end__"


def build_expansion_graph() -> StateGraph[ExpansionState, ExpansionContext, ExpansionInput, Any]:
    """The uncompiled graph; callers compile it with their own checkpointer."""
    builder = StateGraph(
        ExpansionState,
        context_schema=ExpansionContext,
        input_schema=ExpansionInput,
        output_schema=ExpansionOutput,
    )
    builder.add_node("select_frontier", select_frontier)
    builder.add_node("propose_children", propose_children)
    builder.add_node("add_children", add_children)
    builder.add_edge(START, "select_frontier")
    builder.add_conditional_edges("select_frontier", route_after_select)
    builder.add_edge("propose_children", "add_children")
    builder.add_edge("add_children", "select_frontier")
    return builder


def grown_tree(tree: ConceptTree, result: Mapping[str, Any], settings: ExpandSpec) -> ConceptTree:
    """A copy of `tree` with an expansion's result applied and summarized in `graph.expansion`."""
    out = tree.copy()
    for row in result.get("added", []):
        out.add(
            row["parent"], row["name"], row["description"], origin="generated", node_id=row["id"]
        )
    for node, status in result.get("status", {}).items():
        out.graph.nodes[node]["status"] = status
    for failure in result.get("failures", []):
        out.graph.nodes[failure["node"]]["failure"] = failure["reason"]
    rejected = Counter(r["kind"] for r in result.get("rejections", []))
    out.graph.graph["expansion"] = {
        "stop_reason": result.get("stop_reason"),
        "added": len(result.get("added", [])),
        "calls": result.get("calls", 0),
        "batches": result.get("batches", 0),
        "usage": Usage.of(result.get("usage")).as_dict(),
        "rejected": dict(sorted(rejected.items())),
        "failed": len(result.get("failures", [])),
        "settings": settings.model_dump(mode="json"),
    }
    return out
