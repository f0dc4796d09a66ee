"""The concept tree: what a dataset is about, as a `networkx.DiGraph` with one root.

Every node carries `name`, `description`, `depth`, `origin` (seed, imported or
generated) and `path` (the names from the root down to it); imported nodes may
carry a `code` (an ICD-10 code, an ontology id), `also_under` (the other parents
of a concept kept once) or `copy_of` (the first node of a concept kept under each of
its parents: one concept, several nodes). Edges point from parent to child
and keep the children's order. The tree is saved as node-link JSON (written to a
temporary file and renamed, so a saved tree is never half-written) and exported
to GraphML and Mermaid.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import networkx as nx

from knowledge.concepts.files import (
    FORMAT,
    FORMAT_VERSION,
    PATH_SEPARATOR,
    graphml_attrs,
    read_json,
)
from knowledge.concepts.screen import normalize_name
from synthloom.core.errors import ConceptTreeError
from synthloom.core.store import write_atomically

Origin = Literal["seed", "imported", "generated"]
ORIGINS: tuple[str, ...] = get_args(Origin)
ROOT_ID = "root"
# Attributes every node has; everything else on a node is optional metadata.
_CORE = ("name", "description", "depth", "origin", "path")


@dataclass(frozen=True)
class ConceptNode:
    """A read-only view of one node."""

    id: str
    name: str
    description: str
    depth: int
    origin: Origin
    path: tuple[str, ...]
    code: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


def child_id(parent: str, name: str) -> str:
    """A stable id for a seeded or generated child: same parent and name, same id."""
    digest = hashlib.sha256(f"{parent}\x1f{normalize_name(name)}".encode()).hexdigest()
    return digest[:12]


class ConceptTree:
    """A rooted tree of concepts over a `networkx.DiGraph` (parent → child edges)."""

    def __init__(self, graph: nx.DiGraph[str], root: str) -> None:
        """Wrap a graph already known to be a well-formed tree (use the constructors)."""
        self.graph = graph
        self.root = root

    # -- construction ---------------------------------------------------------------

    @classmethod
    def new(
        cls, name: str, description: str = "", *, root_id: str = ROOT_ID, origin: Origin = "seed"
    ) -> ConceptTree:
        """A tree holding only its root."""
        graph: nx.DiGraph[str] = nx.DiGraph(format=FORMAT, version=FORMAT_VERSION)
        graph.add_node(
            root_id, name=name, description=description, depth=0, origin=origin, path=[name]
        )
        return cls(graph, root_id)

    @classmethod
    def from_seeds(
        cls, seeds: Iterable[str | tuple[str, str]], *, root: str = "Topics", description: str = ""
    ) -> ConceptTree:
        """A root named `root` with one child per seed topic (name or (name, description))."""
        tree = cls.new(root, description)
        for seed in seeds:
            name, text = (seed, "") if isinstance(seed, str) else seed
            if child_id(tree.root, name) in tree.graph:
                raise ConceptTreeError(f"seeds: {name!r} is listed twice")
            tree.add(tree.root, name, text, origin="seed")
        return tree

    @classmethod
    def from_graph(
        cls, graph: nx.DiGraph[Any], *, source: str, origin: Origin = "imported"
    ) -> ConceptTree:
        """Validate any directed graph as a tree and rebuild it with our node attributes.

        `depth` and `path` are recomputed from the edges; names fall back to `label`,
        then to the id; other attributes are kept.
        """
        check_tree_shape(graph, source)
        (root,) = (n for n, d in graph.in_degree() if d == 0)
        out: nx.DiGraph[str] = nx.DiGraph(format=FORMAT, version=FORMAT_VERSION)
        ids: dict[Any, str] = {}
        for node in _bfs(graph, root):
            node_id = str(node)
            if node_id in out:
                raise ConceptTreeError(f"{source}: two nodes share the id {node_id!r}")
            ids[node] = node_id
            attrs = dict(graph.nodes[node])
            parents = list(graph.predecessors(node))
            name = str(attrs.pop("name", None) or attrs.pop("label", None) or node_id).strip()
            attrs.pop("label", None)
            node_origin = attrs.pop("origin", origin)
            if node_origin not in ORIGINS:
                node_origin = origin
            if parents:
                parent = out.nodes[ids[parents[0]]]
                depth, path = parent["depth"] + 1, [*parent["path"], name]
            else:
                depth, path = 0, [name]
            description = str(attrs.pop("description", None) or "")
            for key in ("depth", "path"):
                attrs.pop(key, None)
            out.add_node(
                node_id,
                **attrs,
                name=name,
                description=description,
                depth=depth,
                origin=node_origin,
                path=path,
            )
            if parents:
                out.add_edge(ids[parents[0]], node_id)
        return cls(out, ids[root])

    def add(
        self,
        parent: str,
        name: str,
        description: str = "",
        *,
        origin: Origin = "generated",
        node_id: str | None = None,
        **attrs: Any,
    ) -> str:
        """Add a child under `parent` and return its id."""
        if parent not in self.graph:
            raise KeyError(parent)
        node_id = node_id or child_id(parent, name)
        if node_id in self.graph:
            raise ConceptTreeError(f"node id {node_id!r} ({name!r}) is already in the tree")
        up = self.graph.nodes[parent]
        self.graph.add_node(
            node_id,
            **attrs,
            name=name,
            description=description,
            depth=up["depth"] + 1,
            origin=origin,
            path=[*up["path"], name],
        )
        self.graph.add_edge(parent, node_id)
        return node_id

    def copy(self) -> ConceptTree:
        """An independent copy (attribute values that are lists or dicts are copied too)."""
        graph: nx.DiGraph[str] = nx.DiGraph(**_copy_attrs(self.graph.graph))
        for node in self.nodes():
            graph.add_node(node, **_copy_attrs(self.graph.nodes[node]))
            parent = self.parent(node)
            if parent is not None:
                graph.add_edge(parent, node)
        return ConceptTree(graph, self.root)

    def cut(self, max_depth: int) -> ConceptTree:
        """A copy without the nodes deeper than `max_depth`."""
        out = self.copy()
        out.graph.remove_nodes_from([n for n in self.nodes() if self.depth(n) > max_depth])
        return out

    # -- reading --------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.graph.number_of_nodes())

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.graph

    def node(self, node_id: str) -> ConceptNode:
        """The node's view."""
        attrs = self.graph.nodes[node_id]
        return ConceptNode(
            id=node_id,
            name=attrs["name"],
            description=attrs["description"],
            depth=attrs["depth"],
            origin=attrs["origin"],
            path=tuple(attrs["path"]),
            code=attrs.get("code"),
            attrs={k: v for k, v in attrs.items() if k not in _CORE},
        )

    def name(self, node_id: str) -> str:
        """The node's name."""
        return str(self.graph.nodes[node_id]["name"])

    def description(self, node_id: str) -> str:
        """The node's description ('' when it has none)."""
        return str(self.graph.nodes[node_id]["description"])

    def depth(self, node_id: str) -> int:
        """Edges from the root (the root is 0)."""
        return int(self.graph.nodes[node_id]["depth"])

    def path(self, node_id: str) -> list[str]:
        """Names from the root down to the node."""
        return list(self.graph.nodes[node_id]["path"])

    def topic(self, node_id: str) -> str:
        """What a sample about this node is about: its path below the root."""
        path = self.path(node_id)
        return PATH_SEPARATOR.join(path[1:] if len(path) > 1 else path)

    def parent(self, node_id: str) -> str | None:
        """The parent's id (None for the root)."""
        return next(iter(self.graph.predecessors(node_id)), None)

    def children(self, node_id: str) -> list[str]:
        """Child ids in the order they were added."""
        return list(self.graph.successors(node_id))

    def nodes(self) -> list[str]:
        """All node ids, breadth-first from the root (children in order)."""
        return list(_bfs(self.graph, self.root))

    def leaves(self) -> list[str]:
        """Nodes without children, breadth-first (the root alone is its own leaf)."""
        return [n for n in self.nodes() if self.graph.out_degree(n) == 0]

    def concept(self, node_id: str) -> str:
        """The concept a node stands for: the node itself, or the node it is a copy of."""
        return str(self.graph.nodes[node_id].get("copy_of") or node_id)

    def concept_leaves(self) -> list[str]:
        """One leaf per concept, breadth-first: what samples are dealt over.

        A concept copied under several parents is one slot, not one per copy.
        """
        seen: set[str] = set()
        out: list[str] = []
        for leaf in self.leaves():
            concept = self.concept(leaf)
            if concept not in seen:
                seen.add(concept)
                out.append(leaf)
        return out

    @property
    def height(self) -> int:
        """Depth of the deepest node."""
        return max(int(attrs["depth"]) for _, attrs in self.graph.nodes(data=True))

    def fingerprint(self) -> str:
        """Hash of the structure, names and descriptions (not of coverage or status)."""
        rows = [
            [n, self.parent(n), self.graph.nodes[n]["name"], self.graph.nodes[n]["description"]]
            for n in self.nodes()
        ]
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]

    # -- files ------------------------------------------------------------------------

    def to_node_link(self) -> dict[str, Any]:
        """Node-link data (`nodes` in breadth-first order, `edges` parent → child).

        Values are copied: changing the data does not change the tree.
        """
        order = self.nodes()
        return {
            "directed": True,
            "multigraph": False,
            "graph": {
                **_copy_attrs(self.graph.graph),
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "root": self.root,
            },
            "nodes": [{"id": n, **_copy_attrs(self.graph.nodes[n])} for n in order],
            "edges": [
                {"source": parent, "target": n}
                for n in order
                if (parent := self.parent(n)) is not None
            ],
        }

    @classmethod
    def from_node_link(cls, data: Mapping[str, Any], *, source: str) -> ConceptTree:
        """Rebuild (and validate) a tree from node-link data, ours or another tool's."""
        if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
            raise ConceptTreeError(f"{source}: not node-link JSON (no 'nodes' list)")
        edges_key = "edges" if "edges" in data else "links"
        if not isinstance(data.get(edges_key), list):
            raise ConceptTreeError(f"{source}: not node-link JSON (no 'edges' or 'links' list)")
        if data.get("directed") is False:
            raise ConceptTreeError(f"{source}: the graph is undirected; a tree needs directions")
        payload = {**data, "directed": True, "multigraph": False}
        try:
            graph = cast(
                "nx.DiGraph[Any]",
                nx.node_link_graph(payload, directed=True, multigraph=False, edges=edges_key),
            )
        except (KeyError, TypeError, nx.NetworkXError) as exc:
            raise ConceptTreeError(f"{source}: malformed node-link JSON ({exc!r})") from None
        root = data.get("graph", {}).get("root") if isinstance(data.get("graph"), dict) else None
        tree = cls.from_graph(graph, source=source)
        if root is not None and str(root) != tree.root:
            raise ConceptTreeError(
                f"{source}: graph.root is {root!r} but the root is {tree.root!r}"
            )
        tree.graph.graph.update(
            {k: v for k, v in graph.graph.items() if k not in ("format", "version", "root")}
        )
        return tree

    def save(self, path: str | Path) -> Path:
        """Write node-link JSON atomically (a temporary file, then a rename)."""
        data = self.to_node_link()
        # One node or edge per line: diffs stay readable and the C JSON encoder stays fast.
        head = json.dumps(
            {k: data[k] for k in ("directed", "multigraph", "graph")}, ensure_ascii=False
        )
        lines = [head[:-1] + ',\n"nodes": [']
        lines.append(",\n".join(json.dumps(n, ensure_ascii=False) for n in data["nodes"]))
        lines.append('],\n"edges": [')
        lines.append(",\n".join(json.dumps(e, ensure_ascii=False) for e in data["edges"]))
        lines.append("]}\n")
        text = "\n".join(lines)
        return write_atomically(Path(path), lambda handle: handle.write(text))

    @classmethod
    def load(cls, path: str | Path) -> ConceptTree:
        """Read a tree saved by `save` (or any node-link JSON of a tree)."""
        path = Path(path)
        return cls.from_node_link(read_json(path), source=str(path))

    def write_graphml(self, path: str | Path) -> Path:
        """GraphML for Gephi, yEd or Cytoscape (lists joined, coverage flattened)."""
        flat: nx.DiGraph[str] = nx.DiGraph()
        for node in self.nodes():
            flat.add_node(node, **graphml_attrs(self.graph.nodes[node]))
        flat.add_edges_from(self.graph.edges)
        return write_atomically(Path(path), lambda handle: nx.write_graphml(flat, handle), "wb")

    def to_mermaid(self, max_depth: int | None = None) -> str:
        """A Mermaid `flowchart` of the tree (down to `max_depth` if given)."""
        from knowledge.concepts.render import mermaid  # drawing lives with the other renderers

        return mermaid(self, max_depth)

    # -- summaries ----------------------------------------------------------------------

    def stats(self) -> TreeStats:
        """Counts by depth, origin and status, and the branching of inner nodes."""
        nodes = self.graph.nodes
        fanout = [self.graph.out_degree(n) for n in self.graph if self.graph.out_degree(n)]
        return TreeStats(
            nodes=len(self),
            leaves=sum(1 for n in self.graph if self.graph.out_degree(n) == 0),
            height=self.height,
            by_depth=dict(sorted(Counter(int(nodes[n]["depth"]) for n in nodes).items())),
            by_origin=dict(sorted(Counter(str(nodes[n]["origin"]) for n in nodes).items())),
            by_status=dict(
                sorted(
                    Counter(str(nodes[n]["status"]) for n in nodes if "status" in nodes[n]).items()
                )
            ),
            fanout_min=min(fanout, default=0),
            fanout_max=max(fanout, default=0),
            fanout_mean=sum(fanout) / len(fanout) if fanout else 0.0,
        )


@dataclass(frozen=True)
class TreeStats:
    """What `synthloom tree stats` prints."""

    nodes: int
    leaves: int
    height: int
    by_depth: dict[int, int]
    by_origin: dict[str, int]
    by_status: dict[str, int]
    fanout_min: int
    fanout_max: int
    fanout_mean: float


def check_tree_shape(graph: nx.DiGraph[Any], source: str) -> None:
    """Raise `ConceptTreeError` unless the graph is non-empty, acyclic, single-rooted."""
    if graph.number_of_nodes() == 0:
        raise ConceptTreeError(f"{source}: the tree is empty")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [str(u) for u, _ in nx.find_cycle(graph)]
        shown = " → ".join([*cycle[:8], cycle[0]]) if len(cycle) <= 8 else " → ".join(cycle[:8])
        raise ConceptTreeError(f"{source}: the hierarchy has a cycle: {shown}")
    roots = [n for n, d in graph.in_degree() if d == 0]
    if len(roots) > 1:
        names = ", ".join(repr(_label(graph, r)) for r in roots[:5])
        more = f" and {len(roots) - 5} more" if len(roots) > 5 else ""
        raise ConceptTreeError(
            f"{source}: {len(roots)} roots ({names}{more}); a concept tree has one root — "
            "wrap them under a new root (--root NAME)"
        )
    for node, degree in graph.in_degree():
        if degree > 1:
            parents = ", ".join(repr(_label(graph, p)) for p in graph.predecessors(node))
            raise ConceptTreeError(
                f"{source}: {_label(graph, node)!r} has {degree} parents ({parents}); "
                "a concept tree gives each node one parent"
            )


def _copy_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    # Attribute values are JSON-like and at most one level deep (path, coverage).
    return {
        k: list(v) if isinstance(v, list | tuple) else dict(v) if isinstance(v, dict) else v
        for k, v in attrs.items()
    }


def _bfs(graph: nx.DiGraph[Any], root: Any) -> Iterator[Any]:
    queue = deque([root])
    while queue:
        node = queue.popleft()
        yield node
        queue.extend(graph.successors(node))


def _label(graph: nx.DiGraph[Any], node: Any) -> str:
    attrs = graph.nodes[node]
    return str(attrs.get("name") or attrs.get("label") or node)
