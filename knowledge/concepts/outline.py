"""Concept trees from nested outlines (YAML/JSON), as real hierarchies have them.

Real outlines repeat themselves in two ways, and both are kept:

- **Siblings with one name** ("plague" the epidemic and "plague" the infection, both
  under "epidemic disease"): two nodes, their ids derived from the name and the
  `code` (or, without one, the description), so the ids do not depend on the order
  the file lists them in. Siblings that neither tell apart are one entry written
  twice: an error.
- **One concept under several parents** (a WordNet synset under two hypernyms): an
  entry is the same concept as an earlier one when it has the same `id` or `code`,
  or the same name and the same non-empty description. Bare repeated names (a
  "Treatment" heading under every disease) stay separate concepts. `first` keeps
  the concept once, under its first parent, with the others in `also_under` (and the
  children listed at the later places merged in); `all` keeps it under each parent,
  the later copies marked `copy_of` the first, so coverage counts the concept once.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from knowledge.concepts.screen import normalize_name
from knowledge.concepts.tree import ROOT_ID, ConceptTree, child_id
from synthloom.core.errors import ConceptTreeError

MultiParent = Literal["first", "all"]
MULTI_PARENT: tuple[str, ...] = ("first", "all")
_OUTLINE_KEYS = frozenset({"id", "name", "description", "code", "children"})
_SHOWN = 3


class ConceptImportWarning(UserWarning):
    """An import kept something a user may want to know about (shared names, copies)."""


@dataclass
class _Pending:
    parent: str
    name: str
    body: dict[str, Any]
    shared_name: bool
    ancestors: frozenset[tuple[str, ...]]
    merging: bool = False


@dataclass
class _Notes:
    shared: list[tuple[str, str]] = field(default_factory=list)
    parents: Counter[tuple[str, ...]] = field(default_factory=Counter)


def outline_tree(
    data: Any, *, source: str, root: str | None = None, multi_parent: MultiParent = "first"
) -> ConceptTree:
    """A tree from a nested outline.

    Two spellings, mixable: explicit nodes `{name, description?, code?, id?, children?}`
    with `children` a list, or compact mappings `{Name: children}` where children is
    a mapping, a list, null (a leaf) or a string (a leaf's description).
    """
    if multi_parent not in MULTI_PARENT:
        raise ConceptTreeError(
            f"multi-parent: expected one of {MULTI_PARENT}, got {multi_parent!r}"
        )
    if not isinstance(data, list | dict):
        # A whole file that is one word or number is a mistake (a path, a stray value),
        # not a one-node tree.
        raise ConceptTreeError(
            f"{source}: expected an outline (a mapping of topics to subtopics, or a list), "
            f"got the single value {data!r}"
        )
    tops = outline_entries(data, source, "(top level)")
    if len(tops) != 1:
        if root is None:
            names = ", ".join(repr(name) for name, _ in tops[:5])
            raise ConceptTreeError(
                f"{source}: {len(tops)} top-level entries ({names}); a concept tree has one "
                "root — wrap them under a new root (--root NAME)"
            )
        tops = [(root, {"children": [{"name": name, **body} for name, body in tops]})]
    ((name, body),) = tops
    tree = ConceptTree.new(
        name,
        str(body.get("description") or ""),
        root_id=str(body.get("id") or ROOT_ID),
        origin="imported",
    )
    if body.get("code") is not None:
        tree.graph.nodes[tree.root]["code"] = str(body["code"])
    builder = _Builder(tree, source, multi_parent)
    key = _concept_key(name, body)
    if key is not None:
        builder.first[key] = tree.root
    builder.build(tree.root, body.get("children"), frozenset({key} if key else set()))
    tree.graph.graph["imported_from"] = "outline"
    builder.warn()
    return tree


class _Builder:
    """Adds an outline's entries in document order (an explicit stack: outlines nest deep)."""

    def __init__(self, tree: ConceptTree, source: str, multi_parent: MultiParent) -> None:
        self.tree, self.source, self.mode = tree, source, multi_parent
        self.first: dict[tuple[str, ...], str] = {}
        self.notes = _Notes()
        self.stack: list[_Pending] = []
        # Normalized names of each node's children so far (a wide level stays linear).
        self.names: dict[str, set[str]] = {}

    def build(self, parent: str, children: Any, ancestors: frozenset[tuple[str, ...]]) -> None:
        self._push(parent, children, ancestors, merging=False)
        while self.stack:
            self._place(self.stack.pop())

    def _push(
        self,
        parent: str,
        children: Any,
        ancestors: frozenset[tuple[str, ...]],
        *,
        merging: bool,
    ) -> None:
        where = " > ".join(self.tree.path(parent))
        entries = outline_entries(children, self.source, where)
        counts = Counter(normalize_name(name) for name, _ in entries)
        pending = [
            _Pending(parent, name, body, counts[normalize_name(name)] > 1, ancestors, merging)
            for name, body in entries
        ]
        self.stack.extend(reversed(pending))

    def _place(self, item: _Pending) -> None:
        tree, body = self.tree, item.body
        key = _concept_key(item.name, body)
        where = " > ".join(tree.path(item.parent))
        if key is not None and key in item.ancestors:
            raise ConceptTreeError(f"{self.source}: {where}: {item.name!r} appears inside itself")
        earlier = self.first.get(key) if key is not None else None
        if key is None and item.merging:
            same = self._same_child(item.parent, item.name)
            if same is not None:  # the same bare child written again at a repeat: merge
                self._push(same, body.get("children"), item.ancestors, merging=True)
                return
        if earlier is not None and key is not None:
            if tree.parent(earlier) == item.parent:
                if not item.merging:
                    raise ConceptTreeError(f"{self.source}: {where}: {item.name!r} appears twice")
                self._push(earlier, body.get("children"), item.ancestors | {key}, merging=True)
                return
            if tree.concept(item.parent) != tree.concept(str(tree.parent(earlier))):
                self.notes.parents[key] += 1  # not merely inside a copied parent
            if self.mode == "first":
                also = tree.graph.nodes[earlier].setdefault("also_under", [])
                if item.parent not in also:
                    also.append(item.parent)
                self._push(earlier, body.get("children"), item.ancestors | {key}, merging=True)
                return
        node_id = self._node_id(item, earlier)
        extra: dict[str, Any] = {"code": str(body["code"])} if body.get("code") is not None else {}
        if earlier is not None:
            extra["copy_of"] = earlier
        tree.add(
            item.parent,
            item.name,
            str(body.get("description") or ""),
            origin="imported",
            node_id=node_id,
            **extra,
        )
        self.names.setdefault(item.parent, set()).add(normalize_name(item.name))
        if key is not None and earlier is None:
            self.first[key] = node_id
        ancestors = item.ancestors | {key} if key is not None else item.ancestors
        self._push(node_id, body.get("children"), ancestors, merging=item.merging)

    def _node_id(self, item: _Pending, earlier: str | None) -> str:
        body, parent = item.body, item.parent
        if body.get("id") is not None:
            own = str(body["id"])
            return own if earlier is None else f"{own}~{_short(parent)}"
        taken = normalize_name(item.name) in self.names.get(parent, ())
        tell = body.get("code") or body.get("description")
        if not (item.shared_name or taken) or not tell:
            node_id = child_id(parent, item.name)
        else:
            node_id = child_id(parent, f"{item.name}\x1f{tell}")
            if node_id not in self.tree:
                self.notes.shared.append((item.name, self.tree.name(parent)))
        if node_id in self.tree:
            where = " > ".join(self.tree.path(parent))
            raise ConceptTreeError(f"{self.source}: {where}: {item.name!r} appears twice")
        return node_id

    def _same_child(self, parent: str, name: str) -> str | None:
        wanted = normalize_name(name)
        for child in self.tree.children(parent):
            attrs = self.tree.graph.nodes[child]
            bare = attrs.get("code") is None and not attrs["description"]
            if bare and normalize_name(str(attrs["name"])) == wanted:
                return child
        return None

    def warn(self) -> None:
        shared, parents = self.notes.shared, self.notes.parents
        graph = self.tree.graph.graph
        if shared:
            groups = Counter(shared)
            shown = "; ".join(
                f"{name!r} ×{count} under {where!r}"
                for (name, where), count in list(groups.items())[:_SHOWN]
            )
            more = f"; and {len(groups) - _SHOWN} more" if len(groups) > _SHOWN else ""
            graph["same_name_siblings"] = len(shared)
            warnings.warn(
                ConceptImportWarning(
                    f"{self.source}: {len(shared)} nodes share their name with a sibling, "
                    f"kept apart by code or description: {shown}{more}"
                ),
                stacklevel=3,
            )
        if parents:
            copies = sum(1 for n in self.tree.graph if "copy_of" in self.tree.graph.nodes[n])
            placed = (
                "kept once, the other parents in also_under"
                if self.mode == "first"
                else f"kept under each ({copies} copies, counted once)"
            )
            graph["multi_parent"] = len(parents)
            warnings.warn(
                ConceptImportWarning(
                    f"{self.source}: {len(parents)} concepts sit under several parents, "
                    f"{placed}; choose with --multi-parent first|all "
                    "(concepts.multi_parent in a spec)"
                ),
                stacklevel=3,
            )


def _concept_key(name: str, body: Any) -> tuple[str, ...] | None:
    """What makes two outline entries one concept (None: nothing but a bare name)."""
    if body.get("id") is not None:
        return ("id", str(body["id"]))
    if body.get("code") is not None:
        return ("code", str(body["code"]))
    description = str(body.get("description") or "").strip()
    return ("name", normalize_name(name), description) if description else None


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def outline_entries(data: Any, source: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, {description, code, id, children}) for each entry of an outline level."""
    if data is None:
        return []
    if isinstance(data, list):
        entries: list[tuple[str, dict[str, Any]]] = []
        for item in data:
            entries.extend(outline_entries(item, source, where))
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


__all__ = ["MULTI_PARENT", "ConceptImportWarning", "MultiParent", "outline_entries", "outline_tree"]
